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
import { leaseWorkflowId } from '../common/lease';
import { leaseHolderRequestSignal, leaseHolderSignal, releaseLeaseSignal } from '../common/messages';
import { modelLeaseWorkflow } from './model-lease-workflow';

export type LeaseOutcome = { held: true; release: () => Promise<void> } | { held: false; holder: string };

/** A lease that just ended may still refuse its id for a moment; tries before giving up. */
const ATTEMPTS = 3;
/** How long a refused run waits for the lease to name its holder. */
const HOLDER_WAIT = '20 seconds';

/**
 * Takes `model`'s lease for this run (starts the lease child), or finds it held and learns by whom.
 * Runs outside cancellation, so a cancel during the hand-shake cannot leave a lease behind.
 */
export async function acquireLease(model: string): Promise<LeaseOutcome> {
  const self = workflowInfo().workflowId;
  let holder: string | undefined;
  setHandler(leaseHolderSignal, (answer) => {
    holder = answer.holder;
  });
  return CancellationScope.nonCancellable(async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        const lease = await startChild(modelLeaseWorkflow, {
          workflowId: leaseWorkflowId(model),
          args: [{ model, holder: self }],
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          staticSummary: `${model} is being retrained by ${self}`,
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
      const asked = await getExternalWorkflowHandle(leaseWorkflowId(model))
        .signal(leaseHolderRequestSignal, { workflowId: self })
        .then(
          () => true,
          () => false,
        );
      // The lease ended between our start and our question: it is free again.
      if (!asked && attempt < ATTEMPTS) continue;
      if (asked && (await condition(() => holder !== undefined, HOLDER_WAIT)) && holder !== undefined)
        return { held: false as const, holder };
      if (attempt >= ATTEMPTS) return { held: false as const, holder: holder ?? leaseWorkflowId(model) };
    }
  });
}
