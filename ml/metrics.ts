import { seededRandom } from '../common/seeded-random';

/** Which series each sample belongs to, and each series' MASE scale (NaN or 0: not scaled). */
export interface SeriesOf {
  entity: ArrayLike<number>;
  naiveScale: ArrayLike<number>;
}

/**
 * Forecast errors in the target's own units, and with `series` the MASE: each entity's MAE over its
 * scale, averaged over the entities that have one. MAPE skips targets within 1e-9 of zero.
 */
export function forecastMetrics(
  actual: ArrayLike<number>,
  predicted: ArrayLike<number>,
  series?: SeriesOf,
): Record<string, number> {
  const overall = errors(actual, predicted);
  if (!series) return overall;
  const scaled = perSeries(actual, predicted, series).flatMap((m) => (m.mase === undefined ? [] : [m.mase]));
  if (scaled.length === 0) return overall;
  return { ...overall, mase: scaled.reduce((a, b) => a + b, 0) / scaled.length };
}

function perSeriesCounted(series: SeriesOf, e: number): boolean {
  const scale = series.naiveScale[e] as number;
  return Number.isFinite(scale) && scale > 0;
}

/** MAE and sample count of each entity id (0 samples: MAE NaN), and its MASE where it has a scale. */
export function perSeries(
  actual: ArrayLike<number>,
  predicted: ArrayLike<number>,
  series: SeriesOf,
): { samples: number; mae: number; mase?: number }[] {
  const entities = series.naiveScale.length;
  const sum = new Float64Array(entities);
  const n = new Float64Array(entities);
  for (let i = 0; i < actual.length; i++) {
    const e = series.entity[i] as number;
    sum[e] = (sum[e] as number) + Math.abs((predicted[i] as number) - (actual[i] as number));
    n[e] = (n[e] as number) + 1;
  }
  return Array.from({ length: entities }, (_, e) => {
    const mae = n[e] ? (sum[e] as number) / (n[e] as number) : Number.NaN;
    const mase = perSeriesCounted(series, e) ? mae / (series.naiveScale[e] as number) : undefined;
    return { samples: n[e] as number, mae, ...(mase === undefined || !n[e] ? {} : { mase }) };
  });
}

function errors(actual: ArrayLike<number>, predicted: ArrayLike<number>): Record<string, number> {
  let abs = 0;
  let sq = 0;
  let pct = 0;
  let pctCount = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = (predicted[i] as number) - (actual[i] as number);
    abs += Math.abs(err);
    sq += err * err;
    if (Math.abs(actual[i] as number) > 1e-9) {
      pct += Math.abs(err / (actual[i] as number));
      pctCount++;
    }
  }
  const n = Math.max(1, actual.length);
  return { mae: abs / n, rmse: Math.sqrt(sq / n), mape: pctCount ? (100 * pct) / pctCount : 0 };
}

/** Probabilities are clipped to [ε, 1 - ε] in the log loss, so one confident mistake stays finite. */
const LOG_LOSS_EPSILON = 1e-15;

/**
 * Classification quality of probabilities against 0/1 labels, cut at 0.5: accuracy, precision,
 * recall and F1 of the positive class, ROC AUC and the log loss.
 */
export function classifyMetrics(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
): Record<string, number> {
  return { ...binaryCounts(labels, probabilities), logLoss: binaryLogLoss(labels, probabilities) };
}

function binaryCounts(labels: ArrayLike<number>, probabilities: ArrayLike<number>): Record<string, number> {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const positive = (probabilities[i] as number) >= 0.5;
    if (labels[i] === 1) {
      if (positive) tp++;
      else fn++;
    } else if (positive) fp++;
    else tn++;
  }
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  return {
    accuracy: (tp + tn) / Math.max(1, labels.length),
    precision,
    recall,
    f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
    auc: rocAuc(labels, probabilities),
  };
}

/** Area under the ROC curve by the rank-sum formula, ties averaged; 0.5 when one class is absent. */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const order = Array.from({ length: labels.length }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  );
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1] as number] === scores[order[i] as number]) j++;
    const rank = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) {
      if (labels[order[k] as number] === 1) {
        positives++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const negatives = labels.length - positives;
  if (!positives || !negatives) return 0.5;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Share floor of an empty bin in {@link populationStability}, so the logarithm stays finite. */
const PSI_FLOOR = 1e-4;

/**
 * The population stability index of `recent` against `reference`, two histograms over the same
 * bins: Σ (r - e) ln(r / e) over the bins' shares (an empty bin counts as 1e-4). 0 is no change;
 * above 0.25 is commonly read as a shift. NaN when either histogram is empty.
 */
export function populationStability(reference: ArrayLike<number>, recent: ArrayLike<number>): number {
  const total = (h: ArrayLike<number>) => Array.from(h).reduce((a, b) => a + b, 0);
  const [e, r] = [total(reference), total(recent)];
  if (!e || !r) return Number.NaN;
  let psi = 0;
  for (let b = 0; b < reference.length; b++) {
    const pe = Math.max(PSI_FLOOR, (reference[b] as number) / e);
    const pr = Math.max(PSI_FLOOR, ((recent[b] as number) ?? 0) / r);
    psi += (pr - pe) * Math.log(pr / pe);
  }
  return psi;
}

/** Mean negative log-likelihood of 0/1 labels under probabilities of the positive class. */
export function binaryLogLoss(labels: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = clip(probabilities[i] as number);
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / Math.max(1, labels.length);
}

function clip(p: number): number {
  return Math.min(1 - LOG_LOSS_EPSILON, Math.max(LOG_LOSS_EPSILON, p));
}

/**
 * Multi-class quality of class probabilities (row-major `[n, k]`) against class indices 0..k-1: the
 * predicted class is the most probable (the first on a tie). Precision, recall and F1 are macro
 * averages over the classes (a class never predicted has precision 0, one never present recall 0,
 * and a class neither present nor predicted is left out); ROC AUC the macro average of one class
 * against the rest over the classes present; log loss the mean of -ln p(true class).
 */
export function multiClassMetrics(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  k: number,
): Record<string, number> {
  const n = labels.length;
  const tp = new Float64Array(k);
  const predictedCount = new Float64Array(k);
  const actualCount = new Float64Array(k);
  let correct = 0;
  let logLoss = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i] as number;
    const top = argmax(probabilities, i * k, k);
    predictedCount[top] = (predictedCount[top] as number) + 1;
    actualCount[y] = (actualCount[y] as number) + 1;
    if (top === y) {
      correct++;
      tp[y] = (tp[y] as number) + 1;
    }
    logLoss -= Math.log(clip(probabilities[i * k + y] as number));
  }
  let precision = 0;
  let recall = 0;
  let f1 = 0;
  let counted = 0;
  let auc = 0;
  let aucCounted = 0;
  for (let c = 0; c < k; c++) {
    if (!actualCount[c] && !predictedCount[c]) continue;
    counted++;
    const p = predictedCount[c] ? (tp[c] as number) / (predictedCount[c] as number) : 0;
    const r = actualCount[c] ? (tp[c] as number) / (actualCount[c] as number) : 0;
    precision += p;
    recall += r;
    f1 += p + r ? (2 * p * r) / (p + r) : 0;
    if (actualCount[c] && actualCount[c] !== n) {
      const isC = Float64Array.from({ length: n }, (_, i) => (labels[i] === c ? 1 : 0));
      const score = Float64Array.from({ length: n }, (_, i) => probabilities[i * k + c] as number);
      auc += rocAuc(isC, score);
      aucCounted++;
    }
  }
  const per = Math.max(1, counted);
  return {
    accuracy: correct / Math.max(1, n),
    precision: precision / per,
    recall: recall / per,
    f1: f1 / per,
    auc: aucCounted ? auc / aucCounted : 0.5,
    logLoss: logLoss / Math.max(1, n),
  };
}

/** Index of the largest of `values[from .. from + k)`; the first on a tie. */
export function argmax(values: ArrayLike<number>, from: number, k: number): number {
  let best = 0;
  for (let c = 1; c < k; c++) if ((values[from + c] as number) > (values[from + best] as number)) best = c;
  return best;
}

/**
 * Regression quality in the target's units: MAE, RMSE, R² (1 - SSE/SST around the actuals' mean; 0
 * when the actuals are constant) and Spearman's rank correlation of predictions with actuals.
 */
export function regressMetrics(
  actual: ArrayLike<number>,
  predicted: ArrayLike<number>,
): Record<string, number> {
  const n = actual.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += actual[i] as number;
  mean /= Math.max(1, n);
  let abs = 0;
  let sse = 0;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    const err = (predicted[i] as number) - (actual[i] as number);
    abs += Math.abs(err);
    sse += err * err;
    sst += ((actual[i] as number) - mean) ** 2;
  }
  const m = Math.max(1, n);
  return {
    mae: abs / m,
    rmse: Math.sqrt(sse / m),
    r2: sst > 0 ? 1 - sse / sst : 0,
    spearman: spearman(actual, predicted),
  };
}

/** Ranks 1..n of `values`, ties given the average of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (values[a] as number) - (values[b] as number),
  );
  const ranks = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && values[order[j + 1] as number] === values[order[i] as number]) j++;
    const rank = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) ranks[order[k] as number] = rank;
    i = j + 1;
  }
  return ranks;
}

/**
 * Spearman's rank correlation: Pearson's correlation of the average ranks (so ties are handled
 * exactly); 0 when either side is constant.
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return pearson(averageRanks(a), averageRanks(b));
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] as number;
    mb += b[i] as number;
  }
  ma /= Math.max(1, n);
  mb /= Math.max(1, n);
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    const da = (a[i] as number) - ma;
    const db = (b[i] as number) - mb;
    cov += da * db;
    va += da * da;
    vb += db * db;
  }
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : 0;
}

/** Rows the silhouette looks at, at most: its cost grows with the square of the rows. */
export const SILHOUETTE_SAMPLE = 2000;

/**
 * The mean silhouette of a clustering of points (row-major `[n, d]`, e.g. the scaled features),
 * Euclidean: per point (b - a) / max(a, b), `a` its mean distance to the rest of its cluster, `b`
 * the least mean distance to another cluster; 0 for a point alone in its cluster. Over more than
 * `sample` points, a seeded sample of that many is scored (same points, same figure). 0 when there
 * are fewer than two clusters.
 */
export function silhouette(
  points: ArrayLike<number>,
  d: number,
  clusters: ArrayLike<number>,
  { sample = SILHOUETTE_SAMPLE, seed = 42 }: { sample?: number; seed?: number } = {},
): number {
  const rows = sampleRows(clusters.length, sample, seed);
  const ids = [...new Set(rows.map((r) => clusters[r] as number))];
  if (ids.length < 2) return 0;
  const slot = new Map(ids.map((id, i) => [id, i]));
  const size = new Float64Array(ids.length);
  for (const r of rows) {
    const c = slot.get(clusters[r] as number) as number;
    size[c] = (size[c] as number) + 1;
  }
  const sum = new Float64Array(ids.length);
  let total = 0;
  for (const i of rows) {
    sum.fill(0);
    for (const j of rows) {
      if (i === j) continue;
      let sq = 0;
      for (let f = 0; f < d; f++) sq += ((points[i * d + f] as number) - (points[j * d + f] as number)) ** 2;
      const c = slot.get(clusters[j] as number) as number;
      sum[c] = (sum[c] as number) + Math.sqrt(sq);
    }
    const own = slot.get(clusters[i] as number) as number;
    if ((size[own] as number) <= 1) continue;
    const a = (sum[own] as number) / ((size[own] as number) - 1);
    let b = Infinity;
    for (let c = 0; c < ids.length; c++)
      if (c !== own && size[c]) b = Math.min(b, (sum[c] as number) / (size[c] as number));
    const m = Math.max(a, b);
    total += m > 0 ? (b - a) / m : 0;
  }
  return total / rows.length;
}

/** All row indices under `limit`, else a seeded sample of `limit` of them (partial Fisher-Yates), sorted. */
function sampleRows(n: number, limit: number, seed: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= limit) return all;
  const random = seededRandom(seed);
  for (let i = 0; i < limit; i++) {
    const j = i + Math.floor(random() * (n - i));
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, limit).sort((a, b) => a - b);
}
