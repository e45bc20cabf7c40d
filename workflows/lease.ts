import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { QueueEntry } from '../common/admission';
import { leaseWorkflowId } from '../common/workflow-ids';
import { leaseHolderRequestSignal, leaseHolderSignal, releaseLeaseSignal } from '../common/messages';
import { rethrowUnlessFailure } from './failures';
import { modelLeaseWorkflow } from './model-lease-workflow';

export type LeaseOutcome = { held: true; release: () => Promise<void> } | { held: false; holder: string };

/** A lease that just ended may still refuse its id for a moment; tries before giving up. */
const ATTEMPTS = 3;
/** How long a refused run waits for the lease to name its holder. */
const HOLDER_WAIT = '20 seconds';

/**
 * Takes `model`'s lease for this run (starts the lease child, handing it `waiting`: the queue this
 * run took over), or finds it held and learns by whom.
 * Runs outside cancellation, so a cancel during the hand-shake cannot leave a lease behind.
 */
export async function acquireLease(model: string, waiting: QueueEntry[] = []): Promise<LeaseOutcome> {
  return CancellationScope.nonCancellable(async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        const lease = await startChild(modelLeaseWorkflow, {
          workflowId: leaseWorkflowId(model),
          args: [{ model, holder: workflowInfo().workflowId, ...(waiting.length > 0 ? { waiting } : {}) }],
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          staticSummary: `${model} is being retrained by ${workflowInfo().workflowId}`,
        });
        return {
          held: true as const,
          release: () =>
            CancellationScope.nonCancellable(async () => {
              await lease.signal(releaseLeaseSignal);
              await lease.result();
            }),
        };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      const holder = await leaseHolder(model);
      // The lease ended between our start and our question: it is free again.
      if (holder === undefined && attempt < ATTEMPTS) continue;
      if (holder !== null && holder !== undefined) return { held: false as const, holder };
      if (attempt >= ATTEMPTS) return { held: false as const, holder: leaseWorkflowId(model) };
    }
  });
}

/**
 * Who holds `model`'s lease: the holder's workflow id; `undefined` when no lease runs; `null` when
 * the lease runs but did not say within {@link HOLDER_WAIT}.
 */
export async function leaseHolder(model: string): Promise<string | null | undefined> {
  let holder: string | undefined;
  setHandler(leaseHolderSignal, (answer) => {
    holder = answer.holder;
  });
  const asked = await getExternalWorkflowHandle(leaseWorkflowId(model))
    .signal(leaseHolderRequestSignal, { workflowId: workflowInfo().workflowId })
    .then(
      () => true,
      // No lease runs to ask; a bug is no answer and leaves untouched.
      (err: unknown) => {
        rethrowUnlessFailure(err);
        return false;
      },
    );
  if (!asked) return undefined;
  return (await condition(() => holder !== undefined, HOLDER_WAIT)) ? (holder ?? null) : null;
}
