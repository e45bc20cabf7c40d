import type { Preprocessing } from '../common/artefacts';
import { classifyMetrics, multiClassMetrics, regressMetrics, silhouette } from './metrics';
import type { LoadedSplit } from './windows';

/**
 * Predictions for every sample of a split, in the target's units: `width` 1 for a value (forecast,
 * regression), a binary classifier's probability or a cluster id; `width` k for a multi-class
 * classifier's class probabilities, row-major `[n, k]`.
 */
export interface SplitPredictions {
  values: ArrayLike<number>;
  width: number;
}

/**
 * The holdout figures of a tabular model's predictions: accuracy, precision, recall, F1, ROC AUC and
 * log loss for classifiers (macro over classes for multi-class), MAE, RMSE, R² and Spearman for
 * regressions, the silhouette of the scaled features for clusterers.
 */
export function tabularMetrics(
  holdout: LoadedSplit,
  task: Preprocessing['task'],
  { values, width }: SplitPredictions,
): Record<string, number> {
  if (task === 'regress') return regressMetrics(holdout.yRaw, values);
  if (task === 'cluster')
    return { silhouette: silhouette(scaledInputs(holdout), holdout.data.width, values) };
  if (width > 1) return multiClassMetrics(holdout.yRaw, values, width);
  return classifyMetrics(holdout.yRaw, values);
}

/** A split's model inputs as scaled for the model, row-major `[rows, width]`. */
export function scaledInputs(split: LoadedSplit): Float32Array {
  const out = new Float32Array(split.data.rows * split.data.width);
  split.data.gatherX(undefined, 0, split.data.rows, out);
  return out;
}

/**
 * The naive baselines that fit a tabular task, from the train split alone: `majority` (the most
 * frequent class, certain) and `prior` (every row the train split's class shares) for classifiers;
 * `mean` and `median` of the train target for regressions; none for clusterers (they are gated
 * against production only).
 */
export function tabularBaselines(
  train: LoadedSplit,
  holdout: LoadedSplit,
  pre: Pick<Preprocessing, 'task' | 'threshold' | 'classes'>,
): Record<string, SplitPredictions> {
  const rows = holdout.data.rows;
  if (pre.task === 'regress') {
    const sorted = Float64Array.from(train.yRaw).sort();
    const n = sorted.length;
    const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, n);
    const median =
      n % 2 ? (sorted[(n - 1) / 2] as number) : ((sorted[n / 2 - 1] ?? 0) + (sorted[n / 2] ?? 0)) / 2;
    return {
      mean: { values: new Float64Array(rows).fill(mean), width: 1 },
      median: { values: new Float64Array(rows).fill(median), width: 1 },
    };
  }
  if (pre.task !== 'classify') return {};
  const k = pre.threshold === undefined ? (pre.classes?.length ?? 2) : 2;
  const shares = classShares(train.yRaw, k);
  const majority = shares.indexOf(Math.max(...shares));
  if (pre.threshold !== undefined)
    return {
      majority: { values: new Float64Array(rows).fill(majority), width: 1 },
      prior: { values: new Float64Array(rows).fill(shares[1] as number), width: 1 },
    };
  const oneHot = new Float64Array(rows * k);
  const prior = new Float64Array(rows * k);
  for (let i = 0; i < rows; i++) {
    oneHot[i * k + majority] = 1;
    prior.set(shares, i * k);
  }
  return { majority: { values: oneHot, width: k }, prior: { values: prior, width: k } };
}

/** Share of each class index 0..k-1 among `labels` (uniform when there are none). */
function classShares(labels: ArrayLike<number>, k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i] as number;
    if (c >= 0 && c < k) counts[c] = (counts[c] as number) + 1;
  }
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total ? c / total : 1 / k));
}
