import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { QueuePlace } from '../common/admission';
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

/**
 * A started run: `admitted` (it holds its model), `queued` (admission `queue`: it waits behind the run
 * holding the model, at `queue`), or `pending` when no worker took it up within the admission timeout
 * (it runs once one does).
 */
export interface StartedRun {
  workflowId: string;
  runId: string;
  admission: 'admitted' | 'queued' | 'pending';
  queue?: QueuePlace;
}

/**
 * Starts `retrainWorkflow` for one model and waits until it has taken the model's lease, in one call
 * (Update-with-Start: the start and its `admissionUpdate` reach the run's first workflow task
 * together). Throws {@link ModelBusyError} naming the running run when another run of the model
 * holds it: whether the collision is on the workflow id (two starts in one second) or on the lease
 * (any other start). With admission `queue` a busy model queues the run instead (see StartedRun).
 */
export async function startRun(
  client: Client,
  input: RetrainRequest,
  options: StartRunOptions,
): Promise<StartedRun> {
  // Queued starts of one model in one second each get a run: `<id>`, `<id>-2`, `<id>-3`, ...; so does
  // a start in the same second as a run of the model that has ended: a run's id names it alone (the
  // lease, the fleet's slots and every reader key runs by workflow id).
  const ownId = options.workflowId === undefined;
  const queueing = input.admission === 'queue' && ownId;
  const base = workflowIdFor(input.model);
  for (let n = 1; ; n++) {
    try {
      const workflowId = options.workflowId ?? (n === 1 ? base : `${base}-${n}`);
      const neverReuseId = options.neverReuseId === true || ownId;
      return await startOnce(client, input, { ...options, workflowId, neverReuseId }, queueing, ownId);
    } catch (err) {
      if (!(err instanceof IdTaken && n < MAX_SAME_SECOND)) throw err;
    }
  }
}

/** Queued starts of one model within one second, at most. */
const MAX_SAME_SECOND = 100;

/** The id was another start's, to a queued start: it takes the next one. */
class IdTaken extends Error {}

async function startOnce(
  client: Client,
  input: RetrainRequest,
  {
    taskQueue,
    origin,
    workflowId = workflowIdFor(input.model),
    admissionTimeoutMs = 15_000,
    neverReuseId = false,
  }: StartRunOptions,
  queueing: boolean,
  /** The id was chosen here: one taken by a run that has ended is {@link IdTaken}, not a busy model. */
  ownId = false,
): Promise<StartedRun> {
  const deadline = Date.now() + admissionTimeoutMs;
  const startWorkflowOperation = new WithStartWorkflowOperation<typeof retrainWorkflow>('retrainWorkflow', {
    ...retrainStartOptions(input, origin, taskQueue),
    workflowId,
    // A running run of this id is another start's: never send our update to it.
    workflowIdConflictPolicy: 'FAIL',
    ...(neverReuseId ? { workflowIdReusePolicy: 'REJECT_DUPLICATE' as const } : {}),
  });
  let admission: Admission | undefined;
  try {
    admission = await client.withDeadline(deadline, () =>
      client.workflow.executeUpdateWithStart(admissionUpdate, { startWorkflowOperation }),
    );
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      if (queueing) throw new IdTaken(workflowId);
      if (ownId && (await hasEnded(client.workflow.getHandle(workflowId)))) throw new IdTaken(workflowId);
      // A start in the same second as another: that run holds the model, or was itself refused by the one that does.
      const other = await admissionOf(client.workflow.getHandle(workflowId), client, deadline);
      throw new ModelBusyError(input.model, other?.admitted === false ? other.runningWorkflowId : workflowId);
    }
    if (!(err instanceof WorkflowUpdateRPCTimeoutOrCancelledError))
      throw await endedRunsCause(startWorkflowOperation, err);
  }
  if (admission?.admitted === false)
    throw new ModelBusyError(input.model, admission.runningWorkflowId, workflowId);
  const runId = await runIdOf(client, startWorkflowOperation, workflowId);
  if (admission?.admitted === 'queued')
    return { workflowId, runId, admission: 'queued', queue: admission.place };
  return { workflowId, runId, admission: admission ? 'admitted' : 'pending' };
}

/**
 * The started run's id, from the start's answer (the SDK's handle carries it, though its type does
 * not say so). When no worker took the run up before the deadline, the call ended before the server
 * answered the start, so there is no handle: the run exists, and describe names it.
 */
async function runIdOf(
  client: Client,
  operation: WithStartWorkflowOperation<typeof retrainWorkflow>,
  workflowId: string,
): Promise<string> {
  const handle: object | undefined = await operation.workflowHandle().catch(() => undefined);
  if (handle && 'firstExecutionRunId' in handle && typeof handle.firstExecutionRunId === 'string')
    return handle.firstExecutionRunId;
  return (await client.workflow.getHandle(workflowId).describe()).runId;
}

/**
 * Why an Update-with-Start failed other than by the deadline: a run that failed before it took its
 * lease (invalid input) ends while the update waits, and its failure says why. Otherwise (the start
 * refused, the run still going) the error as it came.
 */
async function endedRunsCause(
  operation: WithStartWorkflowOperation<typeof retrainWorkflow>,
  err: unknown,
): Promise<unknown> {
  const handle = await operation.workflowHandle().catch(() => undefined);
  if (!handle || !(await hasEnded(handle))) return err;
  try {
    await handle.result();
  } catch (failure) {
    return failure;
  }
  return err;
}

/** Whether the latest run of the handle's workflow id has ended (it may start again under a new id). */
async function hasEnded(handle: WorkflowHandle): Promise<boolean> {
  return handle.describe().then(
    ({ status }) => status.name !== 'RUNNING',
    () => false,
  );
}

/** Whether another start's run took its model's lease, or found it held; undefined when no worker took it up by `deadline`. */
async function admissionOf(
  handle: WorkflowHandle,
  client: Client,
  deadline: number,
): Promise<Admission | undefined> {
  try {
    return await client.withDeadline(deadline, () => handle.executeUpdate(admissionUpdate));
  } catch (err) {
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return undefined;
    // That run may have ended before the update reached it (refused runs end at once): its result says.
    const result = (await handle.result()) as RetrainResult;
    return result.rejection?.kind === 'modelBusy'
      ? { admitted: false, runningWorkflowId: result.rejection.runningWorkflowId }
      : { admitted: true };
  }
}
