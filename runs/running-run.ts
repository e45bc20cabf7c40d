import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { leaseWorkflowId } from '../common/workflow-ids';

/**
 * The workflow id of `model`'s running retrain run: the holder of its lease, read from Temporal
 * directly (no visibility lag). Undefined when no run holds it.
 */
export async function runningRunOf(client: Client, model: string): Promise<string | undefined> {
  try {
    const lease = await client.workflow.getHandle(leaseWorkflowId(model)).describe();
    if (lease.status.name !== 'RUNNING') return undefined;
    return lease.parentExecution?.workflowId ?? undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
