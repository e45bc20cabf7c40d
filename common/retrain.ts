import { z } from 'zod';
import type { TrialRecord } from './artefacts';
import { HyperparamsSchema, ModelNameSchema } from './model-spec';
import type { ValidateResult, WarmStart } from './stages';
import { TriggerCauseSchema } from './triggers';
import { AdmissionModeSchema, RunPrioritySchema, TrainShareSchema, type QueuePlace } from './admission';

/**
 * A run's own hyperparameters: each field optional and without its default, as they override the
 * spec's field by field (zod's `.partial()` would fill the absent ones with defaults over the spec's).
 */
const HyperparamOverridesSchema = z
  .object(
    Object.fromEntries(
      Object.entries(HyperparamsSchema.shape).map(([key, field]) => [
        key,
        (field instanceof z.ZodDefault ? field.unwrap() : field).optional(),
      ]),
    ),
  )
  .strict() as unknown as ReturnType<typeof HyperparamsSchema.partial>;

export const RetrainInputSchema = z
  .object({
    model: ModelNameSchema,
    epochs: z.number().int().min(1).max(10000).optional(),
    /** Warm-start from the production model when the architecture matches. */
    incremental: z.boolean().default(true),
    windowDays: z.number().int().min(1).max(3650).optional(),
    minRecords: z.number().int().min(1).optional(),
    trials: z.number().int().min(1).max(64).default(1),
    hyperparams: HyperparamOverridesSchema.optional(),
    /** Inference servers to reload; defaults to the worker's RETRAIN_SERVING_URLS. */
    reloadTargets: z.array(z.url({ protocol: /^https?$/ })).optional(),
    /** Set by a trigger check (workflows/trigger-check-workflow): which triggers fired, and why. */
    trigger: TriggerCauseSchema.optional(),
    /** While another run holds the model: refuse or queue. Absent: the spec's `admission`, else refuse. */
    admission: AdmissionModeSchema.optional(),
    /** 1 (highest) to 5. Absent: the spec's `priority`, else 3. */
    priority: RunPrioritySchema.optional(),
    /** Share of the window trained on (a job table's `train_ratio`). Absent: the spec's `trainShare`. */
    trainShare: TrainShareSchema.optional(),
    /** The starter's own fields (a Redis job's `job_id`, `source`, ...), echoed in the run's events. */
    labels: z.record(z.string().min(1).max(100), z.string().max(1000)).optional(),
  })
  .strict();
export type RetrainInput = z.input<typeof RetrainInputSchema>;
export type RetrainRequest = z.output<typeof RetrainInputSchema>;

export const STAGES = [
  'exportDataset',
  'trainModel',
  'validateModel',
  'registerModel',
  'reloadServers',
] as const;
export type StageName = (typeof STAGES)[number];

export const StageRecordSchema = z.object({
  name: z.enum(STAGES),
  status: z.enum(['completed', 'rejected', 'failed', 'cancelled']),
  startedAt: z.string(),
  endedAt: z.string(),
  durationMs: z.number(),
  /** Time inside this stage's activities, as they measured it themselves (absent in old histories). */
  activityMs: z.number().optional(),
  summary: z.string().optional(),
});
export type StageRecord = z.infer<typeof StageRecordSchema>;

export const RetrainStatusSchema = z.enum(['completed', 'rejected', 'cancelled']);

/** Why a run was rejected, as data: the figures behind `reason`. */
export type Rejection =
  /** The readiness check: too few records or days in the window (`reason` says how many). */
  | { kind: 'insufficientData' }
  /** The validation gate: the candidate's figures beside each baseline's and production's, on one holdout. */
  | ({ kind: 'gate' } & Pick<
      ValidateResult,
      'metric' | 'decision' | 'gate' | 'candidate' | 'baselines' | 'production'
    >)
  /** Another run of the model holds its lease: one run per model at a time. */
  | { kind: 'modelBusy'; runningWorkflowId: string };

/**
 * What a run returns when it completes or is rejected. A cancelled run ends Canceled in Temporal and a
 * failed one Failed; both leave the same record in the `outcome` memo (see {@link RunOutcome}).
 */
export interface RetrainResult {
  status: z.infer<typeof RetrainStatusSchema>;
  model: string;
  version?: string;
  reason?: string;
  rejection?: Rejection;
  /** The candidate's holdout metrics, also when the gate rejected it. */
  metrics?: Record<string, number>;
  backend?: string;
  /** A completed run's start: production's weights, or from scratch and why (also on its train stage's summary). */
  warmStart?: WarmStart;
  stages: StageRecord[];
  timings?: RunTimings;
}

/**
 * Where a run's time went: its wall time set against the time its activities say they spent, so the
 * rest is what orchestration cost (scheduling, task round trips, the model lease, retry backoff).
 */
export interface RunTimings {
  /** From the run's start, as Temporal recorded it, to its end, on the workflow's clock. */
  wallMs: number;
  /** Time inside activities (successful attempts), summed as each activity measured itself. */
  activityMs: number;
  /** `wallMs - activityMs`. */
  overheadMs: number;
  /** Activity time per activity type, `loadSpec` included. */
  byActivity: Record<string, number>;
}

/** Where a run's checkpoints and dataset stay after it was cancelled or failed. */
export interface KeptArtefacts {
  datasetKey?: string;
  /** Store prefix of the training checkpoints; a rerun of this workflow id resumes from them. */
  checkpointPrefix?: string;
  /** Epochs finished (of the last reported trial) when the run stopped. */
  epochsDone?: number;
}

/** The failure that ended a run, from its root cause. */
export interface RunFailure {
  stage: StageName | 'starting';
  /** ApplicationFailure type of the root cause (e.g. `ReloadFailed`), or the failure's class name. */
  type: string;
  message: string;
  details?: unknown;
}

/**
 * A run's final record, written to the `outcome` memo as it ends, whichever way it ends, so every
 * reader (our CLI, the HTTP API, the Web UI, `temporal workflow describe`) sees the same story
 * without replaying the run.
 */
export interface RunOutcome {
  status: RetrainResult['status'] | 'failed';
  model: string;
  reason?: string;
  version?: string;
  rejection?: Rejection;
  failure?: RunFailure;
  kept?: KeptArtefacts;
  metrics?: Record<string, number>;
  backend?: string;
  warmStart?: WarmStart;
  /** How far the run got, as `progressQuery` last said: 100 once it completed or was rejected. */
  overallPct: number;
  stages: StageRecord[];
  /** Absent when an activity result of the run carried no timing (a history from before they did). */
  timings?: RunTimings;
}

/** The memo key of {@link RunOutcome}. */
export const OUTCOME_MEMO = 'outcome';

/** The memo key of a queued run's {@link QueuePlace} (removed once it is admitted). */
export const QUEUE_MEMO = 'queue';

/** What `admissionUpdate` answers once the run took its model's lease, or found it held. */
export type Admission =
  | { admitted: true }
  | { admitted: false; runningWorkflowId: string }
  /** Queued (admission `queue`) behind the run holding the model: it starts when its turn comes. */
  | { admitted: 'queued'; place: QueuePlace };

/** What `progressQuery` returns; `stage` is `starting` before the first and `done` after the last. */
export interface RetrainProgress {
  stage: StageName | 'starting' | 'done';
  overallPct: number;
  epoch: number;
  totalEpochs: number;
  loss: number | null;
  valLoss: number | null;
  samplesPerSec: number | null;
  trial?: number;
  /** Every trial of a multi-trial run (`trials > 1`), in trial order. */
  trials?: TrialProgress[];
  /**
   * The best trial so far: the lowest holdout score (forecasts, once trials finish) or else
   * validation loss (training loss when there is no holdout).
   */
  best?: { trial: number; score: number };
  version?: string;
  status: 'queued' | 'running' | RunOutcome['status'];
  /** While `queued`: where the run stands in its model's queue. */
  queue?: QueuePlace;
  /** Set once the run ended: why it was rejected or cancelled, or what failed. */
  reason?: string;
  failure?: RunFailure;
  updatedAt: string;
}

/** One trial as the workflow sees it: `queued` until its first epoch report arrives. */
export interface TrialProgress extends Omit<TrialRecord, 'status'> {
  status: TrialRecord['status'] | 'queued' | 'running';
  epoch: number;
}
