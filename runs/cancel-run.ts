import type { Client } from '@temporalio/client';
import { cancelRetrainSignal } from '../common/messages';
import { RunNotRunningError } from './errors';
import { describeRun } from './read-run';
import { isGoing, summarize } from './run-state';

/**
 * Cancels a running or queued retrain run with a reason (`retrain cancel`, `POST /admin/cancel-training`): the
 * run stops its current stage, registers nothing, and ends Canceled with `reason` in its outcome.
 * Refuses ids of other workflow types and runs that have ended.
 */
export async function cancelRun(
  client: Client,
  workflowId: string,
  reason: string,
): Promise<{ workflowId: string; runId: string }> {
  const run = summarize(await describeRun(client.workflow.getHandle(workflowId)));
  if (!isGoing(run.status))
    throw new RunNotRunningError(`${workflowId} is not running (${run.status})`, run.status);
  await client.workflow.getHandle(workflowId, run.runId).signal(cancelRetrainSignal, { reason });
  return { workflowId, runId: run.runId };
}
