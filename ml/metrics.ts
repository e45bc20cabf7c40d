/** Forecast errors in the target's own units. MAPE skips targets within 1e-9 of zero. */
export function forecastMetrics(
  actual: ArrayLike<number>,
  predicted: ArrayLike<number>,
): Record<string, number> {
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
