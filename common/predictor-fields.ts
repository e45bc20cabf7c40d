import { z } from 'zod';
import type { Task } from './model-spec';

/**
 * The metadata fields of the failure predictor retrain replaces (`model_id`, `created`, `accuracy`,
 * `model_type`, `features`; its `version` is ours already), written beside ours into every version's
 * metadata.json so that its clients read retrain's versions unchanged (docs/registry.md).
 */
export const PredictorFieldsSchema = z.object({
  /** The Temporal run id of the run that trained the version: a UUID, one per training run. */
  model_id: z.string(),
  /** When the version was registered, in seconds since the epoch (`createdAt` as a number). */
  created: z.number(),
  /** A classifier's holdout accuracy; null for forecasts, regressors and clusterers. */
  accuracy: z.number().nullable(),
  /** The kind that trained it: `hyperparams.architecture` (mlp, lstm, logistic, xgboost, ...). */
  model_type: z.string(),
  /** The spec's feature columns. */
  features: z.array(z.string()),
});
export type PredictorFields = z.infer<typeof PredictorFieldsSchema>;

/** The part of a version's metadata the predictor's fields are made of. */
export interface PredictorFieldSources {
  runId: string;
  createdAt: string;
  metrics: Record<string, number>;
  hyperparams: { architecture: string };
  preprocessing: { task: Task; features: string[] };
}

/** A version's metadata with the failure predictor's fields beside ours, each taken from ours. */
export function withPredictorFields<M extends PredictorFieldSources>(meta: M): M & PredictorFields {
  const { task, features } = meta.preprocessing;
  return {
    ...meta,
    model_id: meta.runId,
    created: Date.parse(meta.createdAt) / 1000,
    accuracy: task === 'classify' ? (meta.metrics.accuracy ?? null) : null,
    model_type: meta.hyperparams.architecture,
    features,
  };
}
