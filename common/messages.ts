import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { QueueEntry, QueuePlace } from './admission';
import type { FleetSlots, SlotRequest } from './fleet-slots';
import type { Admission, RetrainProgress } from './retrain';

export interface CancelRetrainArgs {
  reason?: string;
}

/**
 * Cancel with a reason: the running stage stops, nothing is registered, and the run asks Temporal to
 * cancel it, so it ends Canceled exactly as after Temporal's own cancel.
 */
export const cancelRetrainSignal = defineSignal<[CancelRetrainArgs]>('cancelRetrain');

/**
 * Cancel at the next trial boundary (a job table's "cancelled" row): the trial in flight finishes,
 * no further trial starts, and the run then ends Canceled with nothing registered.
 */
export const cancelAfterTrialSignal = defineSignal<[CancelRetrainArgs]>('cancelAfterTrial');

/** Training progress, sent by `trainModel` at most once per epoch so history stays small. */
export interface EpochProgress {
  epoch: number;
  totalEpochs: number;
  loss: number;
  valLoss: number | null;
  samplesPerSec: number;
  trial?: number;
}
export const epochProgressSignal = defineSignal<[EpochProgress]>('epochProgress');

export const progressQuery = defineQuery<RetrainProgress>('progress');

/** Every epoch report of the run so far (every trial), oldest first: the loss curves. */
export const lossCurveQuery = defineQuery<EpochProgress[]>('lossCurve');

export const ModelNameAttribute = defineSearchAttributeKey('ModelName', SearchAttributeType.KEYWORD);
export const RetrainStageAttribute = defineSearchAttributeKey('RetrainStage', SearchAttributeType.KEYWORD);

/** Answers once the run holds its model's lease (admitted) or found another run holding it. */
export const admissionUpdate = defineUpdate<Admission>('admission');

/** Sent by a run to its lease when it ends, so the lease completes instead of being terminated. */
export const releaseLeaseSignal = defineSignal('releaseLease');

/** Sent by a refused run to the lease: "who holds you?"; the lease answers with {@link leaseHolderSignal}. */
export const leaseHolderRequestSignal = defineSignal<[{ workflowId: string }]>('leaseHolderRequest');
export const leaseHolderSignal = defineSignal<[{ holder: string }]>('leaseHolder');

/** Sent by a queued run to its model's lease: wait for me (again: an update of the same entry). */
export const enqueueRunSignal = defineSignal<[QueueEntry]>('enqueueRun');
/** Sent by a queued run that was cancelled to its model's lease: take me out. */
export const dequeueRunSignal = defineSignal<[{ workflowId: string }]>('dequeueRun');
/** Sent by the lease to each queued run whose place changed. */
export const queuePlaceSignal = defineSignal<[QueuePlace]>('queuePlace');
/**
 * Sent by a released lease to the run first in its queue: take the lease, and with it the runs
 * still waiting (and forget those `removed`, cancelled meanwhile).
 */
export const leaseOfferSignal = defineSignal<[{ waiting: QueueEntry[]; removed: string[] }]>('leaseOffer');

/** Sent to the fleet-slots coordinator for a run that holds its model: grant me a slot (again: the same place). */
export const slotRequestSignal = defineSignal<[SlotRequest]>('slotRequest');
/** Sent to the fleet-slots coordinator by a run that ends or stops waiting: free my slot, or my place. */
export const slotReleaseSignal = defineSignal<[{ workflowId: string }]>('slotRelease');
/** Sent by the fleet-slots coordinator to the run it grants a slot; its place while waiting comes as {@link queuePlaceSignal}. */
export const slotGrantedSignal = defineSignal('slotGranted');
/** The fleet-slots coordinator's state: the cap, the holders and the waiting runs, next first. */
export const fleetSlotsQuery = defineQuery<FleetSlots>('fleetSlots');
