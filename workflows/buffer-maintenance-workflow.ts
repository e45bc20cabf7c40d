import { ChildWorkflowFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import { BUFFER_MAINTENANCE_CONCURRENCY, type BufferMaintenance } from '../common/buffer-maintenance';
import { cpuActivities } from './cpu-activities';

const cpu = cpuActivities();

/** A model's entry when its maintenance failed: nothing of its buffer changed. */
const UNTOUCHED = { inStore: true, compactedDays: [], partsBefore: 0, partsAfter: 0, expiredDays: [] };

/**
 * The data buffer's maintenance, as the deployment's `retrain-buffer-maintenance` schedule starts it
 * (runs/buffer-maintenance-schedule): one {@link modelBufferMaintenanceWorkflow} per model with a
 * spec, a few at a time, each its own workflow (`<this id>-<model>`), so one model's failure or
 * retries neither hold up nor hide the others'. Returns what each did (`error` for one that failed).
 */
export async function bufferMaintenanceWorkflow(): Promise<BufferMaintenance[]> {
  const { workflowId } = workflowInfo();
  const models = await cpu.listModels();
  const done: BufferMaintenance[] = [];
  for (let i = 0; i < models.length; i += BUFFER_MAINTENANCE_CONCURRENCY) {
    const batch = models.slice(i, i + BUFFER_MAINTENANCE_CONCURRENCY);
    done.push(
      ...(await Promise.all(
        batch.map((model) =>
          executeChild(modelBufferMaintenanceWorkflow, {
            workflowId: `${workflowId}-${model}`,
            args: [{ model }],
            staticSummary: `Compact the buffer of ${model}`,
          }).catch((err: unknown): BufferMaintenance => {
            // Its workflow failed (and says why in the Web UI): the others go on, the next schedule retries it.
            if (!(err instanceof ChildWorkflowFailure)) throw err;
            return { ...UNTOUCHED, model, error: rootCause(err).message };
          }),
        ),
      )),
    );
  }
  return done;
}

/** One model's buffer maintenance: its days compacted, then retention (the `compactBuffer` activity). */
export async function modelBufferMaintenanceWorkflow({
  model,
}: {
  model: string;
}): Promise<BufferMaintenance> {
  return cpu.compactBuffer({ model });
}

/** The innermost cause of a failure (a child's activity's own error, not "Activity task failed"). */
function rootCause(err: Error): Error {
  let cause = err;
  while (cause.cause instanceof Error) cause = cause.cause;
  return cause;
}
