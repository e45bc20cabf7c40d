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

/** Classification quality of probabilities against 0/1 labels, cut at 0.5. */
export function classifyMetrics(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
): Record<string, number> {
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
