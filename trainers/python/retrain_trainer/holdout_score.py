"""A trained model's figure on the frame's holdout under the gate's metric: what a search ranks trials by."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .frame import Frame
from .scores import (
    classify_metrics,
    forecast_metrics,
    multi_class_metrics,
    regress_metrics,
    resolve_gate_metric,
    silhouette,
)

SCORING_COLUMNS = ("__outScale", "__outOffset", "__naiveScale")
"""The frame columns that put a `value` output into the target's units (docs/trainers.md)."""


def holdout_score(frame: Frame, outputs: npt.NDArray[Any], task: str, gate_metric: str | None) -> dict[str, Any] | None:
    """`{metric, value}` as validateModel would figure it on the same holdout rows, from the native
    model's outputs (`[m, w]`, in the graph's units); None without holdout rows, for a metric the task
    has not, for a figure that is not finite, or for a frame written without the scoring columns."""
    part = frame.holdout.frame
    if len(part) == 0:
        return None
    metric = resolve_gate_metric(gate_metric, task, int(part["__entity"].nunique()))
    figures = _figures(frame, outputs.reshape(len(part), -1).astype(np.float64), task)
    value = figures.get(metric) if figures else None
    return {"metric": metric, "value": float(value)} if value is not None and math.isfinite(value) else None


def _figures(frame: Frame, out: npt.NDArray[np.float64], task: str) -> dict[str, float] | None:
    part = frame.holdout.frame
    if task == "cluster":
        return {"silhouette": silhouette(frame.holdout.x, out[:, 0])}
    actual = part["__actual"].to_numpy(np.float64) if "__actual" in part else frame.holdout.y
    assert actual is not None
    if task == "classify":
        # validateModel reads a classifier as binary (the probability of class 1) when its preprocessing
        # names no classes: a threshold target.
        named = isinstance(frame.preprocessing, dict) and frame.preprocessing.get("classes")
        if not named and out.shape[1] <= 2:
            return classify_metrics(actual, out[:, -1])
        return multi_class_metrics(actual, out)
    if any(column not in part for column in (*SCORING_COLUMNS, "__actual")):
        return None
    value = out[:, 0] * part["__outScale"].to_numpy(np.float64) + part["__outOffset"].to_numpy(np.float64)
    if task == "regress":
        return regress_metrics(actual, value)
    entity = part["__entity"].to_numpy(dtype=str)
    return forecast_metrics(actual, value, entity, part["__naiveScale"].to_numpy(np.float64))
