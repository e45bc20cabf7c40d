import { allHandlersFinished, condition, getExternalWorkflowHandle, setHandler } from '@temporalio/workflow';
import type { QueueEntry } from '../common/admission';
import {
  dequeueRunSignal,
  enqueueRunSignal,
  leaseHolderRequestSignal,
  leaseHolderSignal,
  leaseOfferSignal,
  queuePlaceSignal,
  releaseLeaseSignal,
} from '../common/messages';
import { delivered } from './delivered';
import { RunQueue } from './run-queue';

/** Input of {@link modelLeaseWorkflow}. */
export interface ModelLeaseInput {
  model: string;
  /** Workflow id of the retrain run holding the lease (its parent). */
  holder: string;
  /** Runs queued behind the previous holder, handed over with the lease. */
  waiting?: QueueEntry[];
}

const run = (workflowId: string) => getExternalWorkflowHandle(workflowId);

/**
 * Held by one retrain run of a model at a time, as its child `retrain-lease-<model>`: a second run's
 * start of the same child id fails while this one runs, so two runs of a model never train at once,
 * however they were started. It ends when its run releases it, and Temporal terminates it with its
 * run if that run ends without releasing (parent close policy), so a crashed run leaves no stale lock.
 *
 * It also keeps the model's queue: runs started with admission `queue` wait here in priority order
 * (FIFO within a priority), each told its place whenever it moves. On release the first of them is
 * offered the lease with the rest of the queue, and takes both by starting the next lease (see
 * ./run-admission). Runs that join while the lease is being handed over are passed on to the same run.
 */
export async function modelLeaseWorkflow({ holder, waiting = [] }: ModelLeaseInput): Promise<void> {
  const queue = new RunQueue(waiting);
  let released = false;
  let successor: string | undefined;
  const publish = async () => {
    for (const [workflowId, place] of queue.changedPlaces(holder))
      await delivered(run(workflowId).signal(queuePlaceSignal, place));
  };
  setHandler(releaseLeaseSignal, () => {
    released = true;
  });
  setHandler(leaseHolderRequestSignal, async ({ workflowId }) => {
    await delivered(run(workflowId).signal(leaseHolderSignal, { holder }));
  });
  setHandler(enqueueRunSignal, async (entry) => {
    if (successor !== undefined)
      await delivered(run(successor).signal(leaseOfferSignal, { waiting: [entry], removed: [] }));
    else {
      queue.add(entry);
      await publish();
    }
  });
  setHandler(dequeueRunSignal, async ({ workflowId }) => {
    if (successor !== undefined)
      await delivered(run(successor).signal(leaseOfferSignal, { waiting: [], removed: [workflowId] }));
    else if (queue.remove(workflowId)) await publish();
  });
  await publish();
  await condition(() => released);
  // The first queued run still there takes the lease and the rest of the queue.
  while (successor === undefined) {
    const next = queue.shift();
    if (next === undefined) break;
    // Named before the offer is sent, so a run joining meanwhile is passed on to it rather than lost.
    successor = next.workflowId;
    const offer = { waiting: queue.list(), removed: [] };
    if (!(await delivered(run(successor).signal(leaseOfferSignal, offer)))) successor = undefined;
  }
  await condition(allHandlersFinished);
}
