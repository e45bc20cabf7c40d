import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { RetrainProgress } from './retrain';

export interface CancelRetrainArgs {
  reason?: string;
}

/** Graceful cancel: the running stage stops, nothing is registered, the run ends `cancelled`. */
export const cancelRetrainSignal = defineSignal<[CancelRetrainArgs]>('cancelRetrain');

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

export const ModelNameAttribute = defineSearchAttributeKey('ModelName', SearchAttributeType.KEYWORD);
export const RetrainStageAttribute = defineSearchAttributeKey('RetrainStage', SearchAttributeType.KEYWORD);
