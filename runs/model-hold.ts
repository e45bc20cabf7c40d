import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { releaseLeaseSignal } from '../common/messages';
import { compactUtc, leaseWorkflowId } from '../common/workflow-ids';
import type { modelLeaseWorkflow } from '../workflows';

/**
 * How long a hold may last at most: the lease ends by itself then (Temporal's execution timeout), so
 * a holder killed while it holds (a command line, a server) keeps no run out for longer.
 */
const HOLD_LIMIT = '10 minutes';
/** Starts of the lease tried while the lease that refused them turns out to have ended meanwhile. */
const START_ATTEMPTS = 3;
/** How long a released lease may take to end before it is terminated (no cpu worker to run it). */
const RELEASE_WAIT_MS = 10_000;

/** Thrown by {@link holdModel} when a run (or another holder) has the model's lease: nothing was done. */
export class ModelHeldError extends Error {
  override readonly name = 'ModelHeldError';
  constructor(
    readonly model: string,
    /** The workflow id of the run holding it, or the name of the other holder. */
    readonly holder: string,
    action: string,
  ) {
    super(`model busy: run ${holder} holds ${model}; ${action} refused, try again when it has ended`);
  }
}

/**
 * Runs `work` while holding `model`'s lease (`retrain-lease-<model>`, the one every retrain run of
 * the model takes, see workflows/lease.ts), so no run registers or rolls out a version meanwhile.
 * Refuses at once with {@link ModelHeldError} when it is held; runs started during `work` are refused
 * or queued as behind any run. `holder` names this holder to them (e.g. `rollback-<model>-<time>`).
 */
export async function holdModel<T>(
  client: Client,
  opts: { model: string; taskQueue: string; holder: string; action: string },
  work: () => Promise<T>,
): Promise<T> {
  const lease = await takeLease(client, opts);
  try {
    return await work();
  } finally {
    await release(lease);
  }
}

/** Starts the lease workflow; a lease that ended between the refused start and the look at it is tried again. */
async function takeLease(
  client: Client,
  opts: { model: string; taskQueue: string; holder: string; action: string },
): Promise<WorkflowHandle<typeof modelLeaseWorkflow>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.workflow.start<typeof modelLeaseWorkflow>('modelLeaseWorkflow', {
        workflowId: leaseWorkflowId(opts.model),
        taskQueue: opts.taskQueue,
        args: [{ model: opts.model, holder: opts.holder }],
        workflowExecutionTimeout: HOLD_LIMIT,
        memo: { holder: opts.holder },
        staticSummary: `${opts.model} is held by ${opts.holder}`,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    const holder = await holderOf(client, opts.model);
    if (holder !== undefined || attempt >= START_ATTEMPTS)
      throw new ModelHeldError(opts.model, holder ?? leaseWorkflowId(opts.model), opts.action);
  }
}

/**
 * Who holds `model`'s running lease: its parent run, or the holder named in its memo, or the lease
 * itself; undefined when none runs any more.
 */
async function holderOf(client: Client, model: string): Promise<string | undefined> {
  try {
    const lease = await client.workflow.getHandle(leaseWorkflowId(model)).describe();
    if (lease.status.name !== 'RUNNING') return undefined;
    const named = lease.memo?.holder;
    return lease.parentExecution?.workflowId ?? (typeof named === 'string' ? named : leaseWorkflowId(model));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * Releases the lease (it offers the model to the first queued run) and waits for it to end; a lease
 * that does not end in time (no worker runs it) is terminated, and queued runs find the model free
 * at their next announcement.
 */
async function release(lease: WorkflowHandle<typeof modelLeaseWorkflow>): Promise<void> {
  await lease.signal(releaseLeaseSignal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), RELEASE_WAIT_MS)));
  try {
    if ((await Promise.race([lease.result(), late])) === 'late')
      await lease.terminate('released, but no worker ended the lease').catch((err: unknown) => {
        // It ended meanwhile.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      });
  } finally {
    clearTimeout(timer);
  }
}

/** `rollback-<model>-<UTC time>`: how a rollback names itself to the runs it holds off. */
export function rollbackHolder(model: string, now = new Date()): string {
  return `rollback-${model}-${compactUtc(now)}`;
}
