import { Context } from '@temporalio/activity';

/**
 * Asks Temporal to cancel a run, on its own behalf: a workflow may not cancel itself, and a run
 * cancelled by signal must end Canceled like one cancelled through Temporal.
 */
export async function requestCancellation({
  workflowId,
  runId,
}: {
  workflowId: string;
  runId: string;
}): Promise<void> {
  await Context.current().client.workflow.getHandle(workflowId, runId).cancel();
}
