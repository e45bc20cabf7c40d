import { describe, expect, it } from 'vitest';
import {
  averageRanks,
  classifyMetrics,
  multiClassMetrics,
  regressMetrics,
  silhouette,
  spearman,
} from '../../ml/metrics';

// Every expected figure below is worked out by hand in the comment beside it.

describe('classification metrics', () => {
  it('scores binary probabilities: accuracy, precision, recall, F1, ROC AUC and log loss', () => {
    // Cut at 0.5: tp = 2 (0.9, 0.6), fp = 1 (0.7), fn = 1 (0.2), tn = 1 (0.4).
    const m = classifyMetrics([1, 0, 1, 1, 0], [0.9, 0.4, 0.6, 0.2, 0.7]);
    expect(m.accuracy).toBeCloseTo(3 / 5, 12);
    expect(m.precision).toBeCloseTo(2 / 3, 12);
    expect(m.recall).toBeCloseTo(2 / 3, 12);
    expect(m.f1).toBeCloseTo(2 / 3, 12);
    // Positive-over-negative pairs: 0.9 > 0.4, 0.9 > 0.7, 0.6 > 0.4 of 3 x 2 pairs.
    expect(m.auc).toBeCloseTo(3 / 6, 12);
    // -(ln 0.9 + ln 0.6 + ln 0.6 + ln 0.2 + ln 0.3) / 5
    expect(m.logLoss).toBeCloseTo(0.78808448, 7);
  });

  it('keeps the log loss finite for a certain, wrong answer', () => {
    const m = classifyMetrics([1, 0], [0, 1]);
    expect(Number.isFinite(m.logLoss)).toBe(true);
    expect(m.logLoss).toBeCloseTo(-Math.log(1e-15), 2);
  });

  it('scores class probabilities with macro precision, recall and F1, one-vs-rest AUC and log loss', () => {
    // Predicted classes 0, 1, 1, 2 for true 0, 1, 2, 2.
    const probabilities = [0.7, 0.2, 0.1, 0.3, 0.4, 0.3, 0.2, 0.5, 0.3, 0.1, 0.1, 0.8];
    const m = multiClassMetrics([0, 1, 2, 2], probabilities, 3);
    expect(m.accuracy).toBeCloseTo(3 / 4, 12);
    // Per class (precision, recall): 0 (1, 1), 1 (1/2, 1), 2 (1, 1/2).
    expect(m.precision).toBeCloseTo((1 + 0.5 + 1) / 3, 12);
    expect(m.recall).toBeCloseTo((1 + 1 + 0.5) / 3, 12);
    expect(m.f1).toBeCloseTo((1 + 2 / 3 + 2 / 3) / 3, 12);
    // One vs rest: class 0 3/3, class 1 2/3, class 2 (1 + 0.5 tie + 2)/4.
    expect(m.auc).toBeCloseTo((1 + 2 / 3 + 0.875) / 3, 12);
    // -(ln 0.7 + ln 0.4 + ln 0.3 + ln 0.8) / 4
    expect(m.logLoss).toBeCloseTo(0.6750205, 6);
  });
});

describe('regression metrics', () => {
  it('computes MAE, RMSE, R² and Spearman by hand', () => {
    // Errors 1, 0, 0, 1; SSE 2; SST around 2.5 is 5.
    const m = regressMetrics([1, 2, 3, 4], [2, 2, 3, 5]);
    expect(m.mae).toBeCloseTo(0.5, 12);
    expect(m.rmse).toBeCloseTo(Math.sqrt(0.5), 12);
    expect(m.r2).toBeCloseTo(1 - 2 / 5, 12);
    // Ranks 1, 2, 3, 4 against 1.5, 1.5, 3, 4: cov 4.5, variances 5 and 4.5.
    expect(m.spearman).toBeCloseTo(4.5 / Math.sqrt(5 * 4.5), 12);
  });

  it('averages the ranks of ties in Spearman', () => {
    expect(Array.from(averageRanks([10, 20, 20, 5, 20]))).toEqual([2, 4, 4, 1, 4]);
    // Ranks of b: 1, 2.5, 2.5, 4; a is 1, 2, 3, 4: cov 4.5 of variances 5 and 4.5.
    expect(spearman([1, 2, 3, 4], [7, 8, 8, 9])).toBeCloseTo(4.5 / Math.sqrt(5 * 4.5), 12);
    expect(spearman([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    expect(spearman([1, 2, 3], [5, 5, 5])).toBe(0);
  });
});

describe('silhouette', () => {
  it('scores two clusters on a line by hand', () => {
    // a = 1 for every point; b = 10.5, 9.5, 9.5, 10.5 -> s = 9.5/10.5, 8.5/9.5, 8.5/9.5, 9.5/10.5.
    const s = silhouette([0, 1, 10, 11], 1, [0, 0, 1, 1]);
    expect(s).toBeCloseTo((2 * (9.5 / 10.5) + 2 * (8.5 / 9.5)) / 4, 12);
  });

  it('uses Euclidean distance over every feature and counts a lone point as 0', () => {
    // Points (0,0), (3,4) in cluster 0, (0,8) alone in cluster 1: a = 5 for both of cluster 0;
    // b = 8 for (0,0) and 5 for (3,4) -> (3/8 + 0 + 0) / 3.
    expect(silhouette([0, 0, 3, 4, 0, 8], 2, [0, 0, 1])).toBeCloseTo(3 / 8 / 3, 12);
    expect(silhouette([0, 1, 2], 1, [5, 5, 5])).toBe(0);
  });

  it('scores a seeded sample of large inputs: the same figure every time, near the full one', () => {
    const n = 600;
    const points = Array.from({ length: n }, (_, i) => (i % 2 ? 100 : 0) + ((i * 37) % 11));
    const clusters = Array.from({ length: n }, (_, i) => i % 2);
    const sampled = silhouette(points, 1, clusters, { sample: 100, seed: 7 });
    expect(silhouette(points, 1, clusters, { sample: 100, seed: 7 })).toBe(sampled);
    expect(sampled).toBeCloseTo(silhouette(points, 1, clusters), 1);
  });
});
