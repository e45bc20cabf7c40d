"""Holdout figures defined exactly as the TypeScript validation's (ml/metrics.ts, ml/tabular.ts).

A trial's holdoutScore must rank it as validateModel would judge it, so every figure here is a port of
its TypeScript twin, ties, clipping and degenerate cases included; tests/test_holdout_score.py pins
them to numbers the TypeScript functions gave on the same inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

LOG_LOSS_EPSILON = 1e-15
"""Probabilities are clipped to [ε, 1 - ε] in the log loss, so one confident mistake stays finite."""

SILHOUETTE_SAMPLE = 2000
"""Rows the silhouette looks at, at most (ml/metrics.ts SILHOUETTE_SAMPLE)."""


def resolve_gate_metric(metric: str | None, task: str, entities: int) -> str:
    """The metric a gate of `metric` decides on (common/model-spec.ts resolveGateMetric)."""
    if metric is not None and metric != "auto":
        return metric
    if task == "classify":
        return "f1"
    if task == "regress":
        return "mae"
    if task == "cluster":
        return "silhouette"
    return "mase" if entities > 1 else "mae"


def forecast_metrics(
    actual: Array, predicted: Array, entity: npt.NDArray[np.str_], naive_scale: Array
) -> dict[str, float]:
    """MAE and RMSE in the target's units, and the MASE: each entity's MAE over its scale (`naive_scale`,
    per sample), averaged over the entities with a finite positive scale; no `mase` when none has one."""
    err = predicted - actual
    n = max(1, len(actual))
    out = {"mae": float(np.abs(err).sum() / n), "rmse": math.sqrt(float((err * err).sum()) / n)}
    scaled = []
    for e in dict.fromkeys(entity.tolist()):
        rows = entity == e
        scale = float(naive_scale[rows][0])
        if math.isfinite(scale) and scale > 0:
            scaled.append(float(np.abs(err[rows]).sum()) / int(rows.sum()) / scale)
    if scaled:
        out["mase"] = sum(scaled) / len(scaled)
    return out


def classify_metrics(labels: Array, probabilities: Array) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the positive class cut at 0.5, ROC AUC and log loss."""
    positive = probabilities >= 0.5
    is_one = labels == 1
    tp = int((positive & is_one).sum())
    fp = int((positive & ~is_one).sum())
    fn = int((~positive & is_one).sum())
    tn = len(labels) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    p = _clip(probabilities)
    return {
        "accuracy": (tp + tn) / max(1, len(labels)),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "auc": roc_auc(is_one.astype(np.float64), probabilities),
        "logLoss": float(-np.where(is_one, np.log(p), np.log(1 - p)).sum() / max(1, len(labels))),
    }


def multi_class_metrics(labels: Array, probabilities: Array) -> dict[str, float]:
    """Macro precision, recall, F1 and one-against-rest AUC of `[n, k]` probabilities (the most
    probable class, the first on a tie, is the prediction); a class neither present nor predicted is
    left out of the averages, and AUC averages the classes present but not alone."""
    n, k = probabilities.shape
    y = labels.astype(np.int64)
    top = np.argmax(probabilities, axis=1) if n else np.zeros(0, np.int64)
    predicted_count = np.bincount(top, minlength=k)
    actual_count = np.bincount(y, minlength=k)
    tp = np.bincount(y[top == y], minlength=k)
    precision = recall = f1 = auc = 0.0
    counted = auc_counted = 0
    for c in range(k):
        if not actual_count[c] and not predicted_count[c]:
            continue
        counted += 1
        p = tp[c] / predicted_count[c] if predicted_count[c] else 0.0
        r = tp[c] / actual_count[c] if actual_count[c] else 0.0
        precision += p
        recall += r
        f1 += 2 * p * r / (p + r) if p + r else 0.0
        if actual_count[c] and actual_count[c] != n:
            auc += roc_auc((y == c).astype(np.float64), probabilities[:, c])
            auc_counted += 1
    per = max(1, counted)
    log_loss = -np.log(_clip(probabilities[np.arange(n), y])).sum() if n else 0.0
    return {
        "accuracy": int((top == y).sum()) / max(1, n),
        "precision": float(precision / per),
        "recall": float(recall / per),
        "f1": float(f1 / per),
        "auc": auc / auc_counted if auc_counted else 0.5,
        "logLoss": float(log_loss / max(1, n)),
    }


def regress_metrics(actual: Array, predicted: Array) -> dict[str, float]:
    """MAE, RMSE, R² (0 when the actuals are constant) and Spearman's rank correlation."""
    n = max(1, len(actual))
    err = predicted - actual
    sse = float((err * err).sum())
    sst = float(((actual - actual.sum() / n) ** 2).sum())
    return {
        "mae": float(np.abs(err).sum() / n),
        "rmse": math.sqrt(sse / n),
        "r2": 1 - sse / sst if sst > 0 else 0.0,
        "spearman": spearman(actual, predicted),
    }


def average_ranks(values: Array) -> Array:
    """Ranks 1..n, ties given the average of the ranks they span."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(values) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), np.float64)
    # A run of equal values at sorted positions start..end-1 shares the mean of ranks start+1..end.
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def roc_auc(labels: Array, scores: Array) -> float:
    """Area under the ROC curve by the rank-sum formula, ties averaged; 0.5 when one class is absent."""
    positive = labels == 1
    positives = int(positive.sum())
    negatives = len(labels) - positives
    if not positives or not negatives:
        return 0.5
    rank_sum = float(average_ranks(scores)[positive].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def spearman(a: Array, b: Array) -> float:
    """Pearson's correlation of the average ranks; 0 when either side is constant."""
    return _pearson(average_ranks(a), average_ranks(b))


def _pearson(a: Array, b: Array) -> float:
    n = max(1, len(a))
    da, db = a - a.sum() / n, b - b.sum() / n
    va, vb = float((da * da).sum()), float((db * db).sum())
    return float((da * db).sum()) / math.sqrt(va * vb) if va > 0 and vb > 0 else 0.0


def silhouette(
    points: npt.NDArray[np.floating[Any]], clusters: Array, sample: int = SILHOUETTE_SAMPLE, seed: int = 42
) -> float:
    """The mean Euclidean silhouette of a clustering of `[n, d]` points; over more than `sample` points
    the same seeded sample of that many as the TypeScript picks; 0 with fewer than two clusters."""
    rows = _sample_rows(len(clusters), sample, seed)
    ids = clusters[rows]
    kinds = np.unique(ids)
    if len(kinds) < 2:
        return 0.0
    at = points[rows].astype(np.float64)
    slot = np.searchsorted(kinds, ids)
    size = np.bincount(slot, minlength=len(kinds)).astype(np.float64)
    total = 0.0
    for i in range(len(rows)):
        own = slot[i]
        if size[own] <= 1:
            continue
        distance = np.sqrt(((at - at[i]) ** 2).sum(axis=1))
        distance[i] = 0.0
        sums = np.bincount(slot, weights=distance, minlength=len(kinds))
        a = sums[own] / (size[own] - 1)
        others = [sums[c] / size[c] for c in range(len(kinds)) if c != own and size[c]]
        b = min(others)
        m = max(a, b)
        total += (b - a) / m if m > 0 else 0.0
    return total / len(rows)


def mulberry32(seed: int) -> Callable[[], float]:
    """common/seeded-random.ts seededRandom: uniform in [0, 1), the same sequence for the same seed."""
    state = seed & 0xFFFFFFFF
    mask = 0xFFFFFFFF

    def imul(a: int, b: int) -> int:
        return (a * b) & mask

    def draw() -> float:
        nonlocal state
        state = (state + 0x6D2B79F5) & mask
        t = state
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & mask
        return ((t ^ (t >> 14)) & mask) / 4294967296

    return draw


def _sample_rows(n: int, limit: int, seed: int) -> npt.NDArray[np.int64]:
    """All rows under `limit`, else the seeded partial Fisher-Yates sample ml/metrics.ts draws, sorted."""
    rows = list(range(n))
    if n <= limit:
        return np.asarray(rows, np.int64)
    random = mulberry32(seed)
    for i in range(limit):
        j = i + math.floor(random() * (n - i))
        rows[i], rows[j] = rows[j], rows[i]
    return np.sort(np.asarray(rows[:limit], np.int64))


def _clip(p: Array) -> Array:
    return np.clip(p, LOG_LOSS_EPSILON, 1 - LOG_LOSS_EPSILON)
