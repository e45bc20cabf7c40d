import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { AdmissionMode, QueueEntry, QueuePlace } from '../common/admission';
import { dequeueRunSignal, enqueueRunSignal, leaseOfferSignal, queuePlaceSignal } from '../common/messages';
import { leaseWorkflowId } from '../common/workflow-ids';
import { delivered } from './delivered';
import { acquireLease, type LeaseOutcome } from './lease';
import { RunQueue } from './run-queue';

/**
 * How long a queued run waits for its turn before it announces itself to the lease again: the
 * lease of a run that was terminated is terminated with it, queue and all, and the runs that waited
 * there find the next lease (or take the model) within this time.
 */
const REANNOUNCE_EVERY = '1 minute';
/** Tries to take a lease that was offered while the previous one finishes ending, a second apart. */
const HANDOVER_TRIES = 30;

/**
 * Admits this run to its model: takes the model's lease, or, when another run holds it, refuses
 * (mode `refuse`: the outcome names the holder) or waits in the model's queue (mode `queue`) until the
 * lease is handed to it, telling `queued` each place it is given. A cancel while queued takes the run
 * out of the queue and is rethrown.
 */
export async function admitRun(
  model: string,
  mode: AdmissionMode,
  priority: number,
  queued: (place: QueuePlace) => void,
): Promise<LeaseOutcome> {
  const first = await acquireLease(model);
  if (first.held || mode === 'refuse') return first;
  const entry = { workflowId: workflowInfo().workflowId, priority, queuedAt: new Date().toISOString() };
  return waitInQueue(model, entry, queued);
}

async function waitInQueue(
  model: string,
  entry: QueueEntry,
  queued: (place: QueuePlace) => void,
): Promise<LeaseOutcome> {
  const lease = getExternalWorkflowHandle(leaseWorkflowId(model));
  /** Runs handed to this one with an offer, to hand on with the lease it takes. */
  let handed = new RunQueue();
  let offered = false;
  let holder: string | undefined;
  let taken = false;
  setHandler(queuePlaceSignal, (place) => {
    holder = place.holder;
    queued(place);
  });
  setHandler(leaseOfferSignal, async ({ waiting, removed }) => {
    for (const other of waiting) if (other.workflowId !== entry.workflowId) handed.add(other);
    for (const id of removed) handed.remove(id);
    if (!taken) {
      offered = true;
      return;
    }
    // Late joiners the previous lease passed on after this run took the lease: on to its own.
    for (const other of handed.list()) await delivered(lease.signal(enqueueRunSignal, other));
    for (const id of removed) await delivered(lease.signal(dequeueRunSignal, { workflowId: id }));
    handed = new RunQueue();
  });
  try {
    for (;;) {
      const announced = await delivered(lease.signal(enqueueRunSignal, entry));
      if (announced && !(await condition(() => offered, REANNOUNCE_EVERY))) continue;
      offered = false;
      const waiting = handed.list();
      handed = new RunQueue();
      const outcome = await takeOver(model, waiting, holder);
      if (outcome.held) {
        taken = true;
        return outcome;
      }
      // Another run took the model first: wait in its queue, with the runs handed to this one.
      for (const other of waiting) await delivered(lease.signal(enqueueRunSignal, other));
    }
  } catch (err) {
    if (isCancellation(err))
      await CancellationScope.nonCancellable(() =>
        delivered(lease.signal(dequeueRunSignal, { workflowId: entry.workflowId })),
      );
    throw err;
  }
}

/** Takes the lease with `waiting` behind it, waiting a moment while `previous` (the lease's last holder) still holds it. */
async function takeOver(
  model: string,
  waiting: QueueEntry[],
  previous: string | undefined,
): Promise<LeaseOutcome> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await acquireLease(model, waiting);
    if (outcome.held || outcome.holder !== previous || attempt >= HANDOVER_TRIES) return outcome;
    await sleep('1 second');
  }
}
