import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { cancelRetrainSignal } from '../common/messages';

/** Thrown by {@link requestCancel} when no retrain run has the given workflow id. */
export class RetrainRunNotFoundError extends Error {
  override readonly name = 'RetrainRunNotFoundError';
}

/** Thrown by {@link requestCancel} when the run exists but has already ended. */
export class RetrainRunNotRunningError extends Error {
  override readonly name = 'RetrainRunNotRunningError';
}

/**
 * Sends the graceful cancel signal to a running retrain run (`retrain cancel` and
 * `POST /admin/cancel-training`): the run stops its current stage, registers nothing and ends
 * `cancelled` with `reason`. Refuses ids of other workflow types and runs that have ended.
 */
export async function requestCancel(
  client: Client,
  workflowId: string,
  reason: string,
): Promise<{ workflowId: string; runId: string }> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError)
      throw new RetrainRunNotFoundError(`no retrain run with id ${workflowId}`);
    throw err;
  });
  if (description.type !== 'retrainWorkflow')
    throw new RetrainRunNotFoundError(`${workflowId} is a ${description.type}, not a retrain run`);
  if (description.status.name !== 'RUNNING')
    throw new RetrainRunNotRunningError(
      `${workflowId} is not running (${description.status.name.toLowerCase()})`,
    );
  await handle.signal(cancelRetrainSignal, { reason });
  return { workflowId, runId: description.runId };
}
