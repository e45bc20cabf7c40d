import type { EpochProgress } from '../common/messages';
import type { FleetCap } from './fleet-slots';
import type { EventSink } from '../events/sink';
import type { BackendChoice } from '../ml/backend';
import type { BlobStore } from '../storage/blob-store';
import type { DataBuffer } from '../storage/buffer';
import type { PredictionLog } from '../storage/prediction-log';
import type { ModelRegistry } from '../storage/registry';

/** Everything the activities touch, built once by a worker's composition root. */
export interface ActivityDeps {
  store: BlobStore;
  registry: ModelRegistry;
  buffer: DataBuffer;
  backend: BackendChoice;
  /** Where the inference servers log their answers (live metrics, trigger checks); absent: none logged. */
  predictionLog?: Pick<PredictionLog, 'source'>;
  /** Where run events go (webhook, Redis streams); absent or empty: nowhere. */
  eventSinks?: EventSink[];
  /**
   * How old (ms) an event may get while a sink still fails it before it is dead-lettered
   * (`RETRAIN_EVENTS_MAX_AGE`); absent: 24 hours.
   */
  eventsMaxAgeMs?: number;
  servingUrls: string[];
  /** The deployment's cap on concurrent runs (`RETRAIN_MAX_CONCURRENT_RUNS`); absent: no cap. */
  fleetCap?: FleetCap;
  apiKey?: string;
  /** Days the data buffer keeps (`BUFFER_RETENTION_DAYS`), for its scheduled maintenance; absent: 60. */
  bufferRetentionDays?: number;
  /** Days of trigger evaluations the store keeps (`RETRAIN_EVALUATION_RETENTION_DAYS`); absent: 30. */
  evaluationRetentionDays?: number;
  /** Sends per-epoch progress to the running workflow (a signal); optional in unit tests. */
  reportEpoch?: (workflowId: string, progress: EpochProgress) => Promise<void>;
}
