import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { BUFFER_MAINTENANCE_EVERY } from '../common/buffer-maintenance';
import { durationMs } from '../common/durations';
import { bufferMaintenanceScheduleId } from '../common/workflow-ids';

/**
 * Creates the deployment's buffer maintenance schedule unless it exists (a cpu worker calls it at
 * start when the buffer is in the store): `bufferMaintenanceWorkflow` on `taskQueue` every
 * {@link BUFFER_MAINTENANCE_EVERY}. An existing schedule is left as it is, so an operator's pause or
 * changed interval stays. Says whether it created one.
 */
export async function ensureBufferMaintenanceSchedule(client: Client, taskQueue: string): Promise<boolean> {
  const every = durationMs(BUFFER_MAINTENANCE_EVERY);
  const scheduleId = bufferMaintenanceScheduleId(taskQueue);
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'bufferMaintenanceWorkflow',
        // The server appends the scheduled time: retrain-buffer-maintenance-<UTC timestamp>.
        workflowId: scheduleId,
        taskQueue,
        args: [],
        staticSummary: "Compact the data buffer's parts and apply retention, model by model",
      },
      // A maintenance that overruns its interval makes the next one wait, never run beside it.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every },
      state: { note: 'created by a cpu worker: the buffer is in the store' },
    });
    return true;
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return false;
    throw err;
  }
}
