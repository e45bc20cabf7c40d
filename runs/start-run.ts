import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { admissionUpdate } from '../common/messages';
import type { Admission, RetrainRequest, RetrainResult } from '../common/retrain';
import type { retrainWorkflow } from '../workflows';
import { ModelBusyError } from './errors';
import { retrainStartOptions, workflowIdFor } from './start-options';

/** Options of {@link startRun}. */
export interface StartRunOptions {
  /** The cpu task queue the workers poll. */
  taskQueue: string;
  /** Who started it, for the Web UI summary: `started by hand`, `POST /admin/trigger-training`, ... */
  origin: string;
  /** @default workflowIdFor(model) */
  workflowId?: string;
  /** How long to wait for the run to take its model's lease; no worker polling the queue means waiting. @default 15000 */
  admissionTimeoutMs?: number;
  /**
   * Refuse the id even after a run of it ended (Temporal's REJECT_DUPLICATE), for ids derived from a
   * request that may come again, such as a stream message. @default false
   */
  neverReuseId?: boolean;
}

/** A started run; `pending` when no worker took it up within the admission timeout (it runs once one does). */
export interface StartedRun {
  workflowId: string;
  runId: string;
  admission: 'admitted' | 'pending';
}

/**
 * Starts `retrainWorkflow` for one model and waits until it has taken the model's lease. Throws
 * {@link ModelBusyError} naming the running run when another run of the model holds it: whether the
 * collision is on the workflow id (two starts in one second) or on the lease (any other start).
 */
export async function startRun(
  client: Client,
  input: RetrainRequest,
  {
    taskQueue,
    origin,
    workflowId = workflowIdFor(input.model),
    admissionTimeoutMs = 15_000,
    neverReuseId = false,
  }: StartRunOptions,
): Promise<StartedRun> {
  const deadline = Date.now() + admissionTimeoutMs;
  let handle: WorkflowHandleWithFirstExecutionRunId;
  try {
    handle = await client.workflow.start<typeof retrainWorkflow>('retrainWorkflow', {
      ...retrainStartOptions(input, origin, taskQueue),
      workflowId,
      ...(neverReuseId ? { workflowIdReusePolicy: 'REJECT_DUPLICATE' as const } : {}),
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    // A start in the same second as another: that run holds the model, or was itself refused by the one that does.
    const other = await admissionOf(client, client.workflow.getHandle(workflowId), deadline);
    throw new ModelBusyError(input.model, other?.admitted === false ? other.runningWorkflowId : workflowId);
  }
  const runId = handle.firstExecutionRunId;
  const admission = await admissionOf(client, handle, deadline);
  if (admission?.admitted === false)
    throw new ModelBusyError(input.model, admission.runningWorkflowId, workflowId);
  return { workflowId, runId, admission: admission ? 'admitted' : 'pending' };
}

/** Whether a run took its model's lease, or found it held; undefined when no worker took it up by `deadline`. */
async function admissionOf(
  client: Client,
  handle: WorkflowHandle,
  deadline: number,
): Promise<Admission | undefined> {
  try {
    return await client.withDeadline(deadline, () => handle.executeUpdate(admissionUpdate));
  } catch (err) {
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return undefined;
    // The run may have ended before the update reached it (refused runs end at once): its result says.
    const result = (await handle.result()) as RetrainResult;
    return result.rejection?.kind === 'modelBusy'
      ? { admitted: false, runningWorkflowId: result.rejection.runningWorkflowId }
      : { admitted: true };
  }
}
