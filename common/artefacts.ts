import { z } from 'zod';
import {
  CalendarFeatureSchema,
  HyperparamsSchema,
  NormalisationSchema,
  TargetTransformSchema,
  TaskSchema,
  type ModelSpec,
} from './model-spec';
import { PredictorFieldsSchema } from './predictor-fields';

/** One entity's scaling (normalisation `entity`): the same fields as the fleet-wide one. */
export const EntityStatsSchema = z.object({
  mean: z.array(z.number()),
  std: z.array(z.number()),
  targetMean: z.number(),
  targetStd: z.number(),
});
export type EntityStats = z.infer<typeof EntityStatsSchema>;

/** How raw rows become a model input; travels with the dataset and with every model version. */
export const PreprocessingSchema = z.object({
  task: TaskSchema,
  timeColumn: z.string(),
  /** Absent (tabular specs without one): every row is of one entity. */
  entityColumn: z.string().optional(),
  features: z.array(z.string()),
  /** Absent for clusterers. */
  target: z.string().optional(),
  threshold: z.number().optional(),
  /**
   * Multi-class classifiers: the target's values in the window, sorted (numerically when every one
   * is a number), as text; the model is trained on and outputs class indices into this list.
   */
  classes: z.array(z.string()).optional(),
  lookback: z.number().int(),
  horizon: z.number().int(),
  /** The spec's frequency (`5m`): lags and horizon count steps of it. Absent: records. */
  frequency: z.string().optional(),
  /**
   * Per base feature, over the train split only: the fleet's mean and deviation, which scale every
   * entity under `global` normalisation and, under `entity`, those without their own in `entities`.
   */
  mean: z.array(z.number()),
  std: z.array(z.number()),
  /** Of the (transformed) forecast target, likewise; classifiers use 0 and 1. */
  targetMean: z.number(),
  targetStd: z.number(),
  /** Input options the model was trained with; absent (models before them): global, level, none. */
  normalisation: NormalisationSchema.optional(),
  targetTransform: TargetTransformSchema.optional(),
  calendar: z.array(CalendarFeatureSchema).optional(),
  /** Normalisation `entity`: each entity's own statistics, keyed by the entity as text. */
  entities: z.record(z.string(), EntityStatsSchema).optional(),
});
export type Preprocessing = z.infer<typeof PreprocessingSchema>;

/** Normalisation statistics of a dataset: the part of Preprocessing not taken from the spec. */
export type Normalisation = Pick<Preprocessing, 'mean' | 'std' | 'targetMean' | 'targetStd'>;

/** The spec's data shape with a dataset's statistics: what a model needs to read its inputs. */
export function preprocessingOf(spec: ModelSpec, stats: Normalisation, classes?: string[]): Preprocessing {
  const { task, timeColumn, entityColumn, features, target, threshold, lookback, horizon, frequency } = spec;
  const shape = { task, timeColumn, entityColumn, features, target, threshold, lookback, horizon };
  return {
    ...shape,
    ...(frequency === undefined ? {} : { frequency }),
    ...(classes === undefined ? {} : { classes }),
    ...stats,
  };
}

const FileEntrySchema = z.object({ key: z.string(), sha256: z.string(), bytes: z.number().int() });

export const DatasetManifestSchema = z.object({
  model: z.string(),
  workflowId: z.string(),
  createdAt: z.string(),
  window: z.object({ from: z.string(), to: z.string(), days: z.number().int() }),
  /** Samples of each split; the loader counts them again from the file by the same rule. */
  rows: z.object({ train: z.number().int(), holdout: z.number().int() }),
  /** Share of the samples (by time) in the train split. Absent (datasets before it): 0.8. */
  trainShare: z.number().optional(),
  /**
   * Columns of `rows.parquet`, in order: the entity and time columns, every feature, then the target
   * when it is not a feature, under the buffer's own names. The file holds each row of the window
   * once, in (time, entity) order, plus the 24 hours before it (looked up only by the
   * `sameHourDayBefore` baseline); the loader builds the lag windows and lead targets.
   */
  columns: z.array(z.string()),
  timeRange: z.object({
    trainFrom: z.string(),
    trainTo: z.string(),
    holdoutFrom: z.string(),
    holdoutTo: z.string(),
  }),
  preprocessing: PreprocessingSchema,
  files: z.object({ rows: FileEntrySchema }),
});
export type DatasetManifest = z.infer<typeof DatasetManifestSchema>;

export const AliasSchema = z.object({
  version: z.string(),
  previous: z.string().nullable(),
  updatedAt: z.string(),
  workflowId: z.string().nullable(),
});
export type Alias = z.infer<typeof AliasSchema>;

export const VersionClaimSchema = z.object({ workflowId: z.string(), claimedAt: z.string() });

/** One line of a multi-trial run's trial log, kept in the registered version's metadata. */
export const TrialRecordSchema = z.object({
  trial: z.number().int().min(1),
  hyperparams: HyperparamsSchema,
  status: z.enum(['completed', 'failed', 'cancelled']),
  loss: z.number().nullable(),
  valLoss: z.number().nullable(),
  /** Forecasts: the holdout figure under the gate's metric that ranked the trial. */
  score: z.number().optional(),
  error: z.string().optional(),
});
export type TrialRecord = z.infer<typeof TrialRecordSchema>;

/** One entity's holdout figures in a version's metadata. */
export const EntityFiguresSchema = z.object({
  samples: z.number().int(),
  candidate: z.record(z.string(), z.number()),
  baselines: z.record(z.string(), z.record(z.string(), z.number())),
});
export type EntityFigures = z.infer<typeof EntityFiguresSchema>;

export const ModelMetadataSchema = z.object({
  model: z.string(),
  version: z.string(),
  createdAt: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  parentVersion: z.string().nullable(),
  backend: z.string(),
  /**
   * How the version is stored: `tfjs` (model.json, weights.bin) or `onnx` (model.onnx, from the
   * python trainer). Absent: tfjs, as every version before formats.
   */
  format: z.enum(['tfjs', 'onnx']).optional(),
  hyperparams: HyperparamsSchema,
  epochs: z.number().int(),
  training: z.object({
    loss: z.number(),
    valLoss: z.number().nullable(),
    samplesPerSec: z.number(),
    warmStart: z.string(),
  }),
  metrics: z.record(z.string(), z.number()),
  baselines: z.record(z.string(), z.record(z.string(), z.number())),
  production: z.object({ version: z.string(), metrics: z.record(z.string(), z.number()) }).optional(),
  gate: z.object({ passed: z.boolean(), reason: z.string(), metric: z.string() }),
  dataset: z.object({
    key: z.string(),
    rows: z.object({ train: z.number(), holdout: z.number() }),
    window: z.object({ from: z.string(), to: z.string() }),
  }),
  preprocessing: PreprocessingSchema,
  /** Holdout figures per entity: its samples and the gate's metrics, the candidate's and each baseline's. */
  entities: z.record(z.string(), EntityFiguresSchema).optional(),
  /** Every trial of the run that trained this version (multi-trial runs only). */
  trials: z.array(TrialRecordSchema).optional(),
  /** The failure predictor's fields (./predictor-fields); absent in versions registered before them. */
  ...PredictorFieldsSchema.partial().shape,
});
export type ModelMetadata = z.infer<typeof ModelMetadataSchema>;

/** One registered version in a list (`retrain models show`, the dashboard). */
export interface VersionSummary {
  version: string;
  createdAt: string;
  /** The gate metric (mae for forecasts, f1 for classifiers) and the candidate's value of it. */
  metric: string;
  value: number | null;
  backend: string;
  workflowId: string;
}

export function versionSummary(meta: ModelMetadata): VersionSummary {
  return {
    version: meta.version,
    createdAt: meta.createdAt,
    metric: meta.gate.metric,
    value: meta.metrics[meta.gate.metric] ?? null,
    backend: meta.backend,
    workflowId: meta.workflowId,
  };
}

/** Store prefix of one training's checkpoints and candidate: `checkpoints/<model>/<workflowId>[/trial-<n>]`. */
export function checkpointPrefix(model: string, workflowId: string, trial?: number): string {
  return `checkpoints/${model}/${workflowId}${trial === undefined ? '' : `/trial-${trial}`}`;
}
