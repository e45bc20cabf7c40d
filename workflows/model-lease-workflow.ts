import { allHandlersFinished, condition, getExternalWorkflowHandle, setHandler } from '@temporalio/workflow';
import { leaseHolderRequestSignal, leaseHolderSignal, releaseLeaseSignal } from '../common/messages';
import { rethrowUnlessFailure } from './failures';

/** Input of {@link modelLeaseWorkflow}. */
export interface ModelLeaseInput {
  model: string;
  /** Workflow id of the retrain run holding the lease (its parent). */
  holder: string;
}

/**
 * Held by one retrain run of a model at a time, as its child `retrain-lease-<model>`: a second run's
 * start of the same child id fails while this one runs, so two runs of a model never train at once,
 * however they were started. It ends when its run releases it, and Temporal terminates it with its
 * run if that run ends without releasing (parent close policy), so a crashed run leaves no stale lock.
 */
export async function modelLeaseWorkflow({ holder }: ModelLeaseInput): Promise<void> {
  let released = false;
  setHandler(releaseLeaseSignal, () => {
    released = true;
  });
  setHandler(leaseHolderRequestSignal, async ({ workflowId }) => {
    await getExternalWorkflowHandle(workflowId)
      .signal(leaseHolderSignal, { holder })
      // The asking run may have ended meanwhile; nobody is left to tell.
      .catch(rethrowUnlessFailure);
  });
  await condition(() => released);
  await condition(allHandlersFinished);
}
