"""holdoutScore: the gate metric on the frame's holdout, defined as the TypeScript validation defines it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from retrain_trainer.frame import load_frame
from retrain_trainer.scores import (
    classify_metrics,
    forecast_metrics,
    mulberry32,
    multi_class_metrics,
    regress_metrics,
    silhouette,
)
from retrain_trainer.training import run_training

from .helpers import FakeControl, train_input, write_frame

# Every expected number below was printed once by the TypeScript functions (ml/metrics.ts
# regressMetrics, forecastMetrics, classifyMetrics, multiClassMetrics, silhouette; common/seeded-random.ts
# seededRandom) on exactly these inputs, run with `npx tsx`; the ties are there on purpose.


def arr(*values: float) -> np.ndarray:
    return np.asarray(values, np.float64)


def test_regression_figures_equal_the_typescript_ones() -> None:
    figures = regress_metrics(arr(3, 1.5, 2, 2, 7, 4.25), arr(2.5, 1, 2.5, 2, 6, 5))
    assert figures == pytest.approx(
        {
            "mae": 0.5416666666666666,
            "rmse": 0.6208193510729725,
            "r2": 0.8914425427872861,
            "spearman": 0.9558823529411765,
        },
        rel=1e-12,
    )


def test_forecast_figures_and_the_mase_over_entities_with_a_scale_equal_the_typescript_ones() -> None:
    entity = np.asarray(["a", "a", "a", "b", "b", "b", "c"])
    # Entity c has no scale (NaN): it counts in MAE and RMSE, not in the MASE.
    scale = arr(2, 2, 2, 1.5, 1.5, 1.5, float("nan"))
    figures = forecast_metrics(arr(10, 12, 9, 20, 22, 25, 5), arr(11, 11.5, 9.5, 18, 23, 24, 7), entity, scale)
    assert figures == pytest.approx(
        {"mae": 1.1428571428571428, "rmse": 1.2817398889233114, "mase": 0.611111111111111}, rel=1e-12
    )


def test_binary_figures_equal_the_typescript_ones() -> None:
    figures = classify_metrics(arr(1, 0, 1, 1, 0, 0, 1, 0), arr(0.9, 0.4, 0.5, 0.2, 0.5, 0.1, 0.7, 0.6))
    assert figures == pytest.approx(
        {
            "accuracy": 0.625,
            "precision": 0.6,
            "recall": 0.75,
            "f1": 0.6666666666666665,
            "auc": 0.71875,
            "logLoss": 0.6237805755560651,
        },
        rel=1e-12,
    )


def test_multi_class_macro_figures_equal_the_typescript_ones() -> None:
    probabilities = arr(
        *(0.6, 0.3, 0.1),
        *(0.2, 0.5, 0.3),
        *(0.1, 0.2, 0.7),
        *(0.4, 0.4, 0.2),  # a tie: the first class is the prediction
        *(0.3, 0.3, 0.4),
        *(0.5, 0.25, 0.25),
        *(0.2, 0.3, 0.5),
    ).reshape(7, 3)
    figures = multi_class_metrics(arr(0, 1, 2, 2, 1, 0, 2), probabilities)
    assert figures == pytest.approx(
        {
            "accuracy": 0.7142857142857143,
            "precision": 0.7777777777777777,
            "recall": 0.7222222222222222,
            "f1": 0.7111111111111111,
            "auc": 0.85,
            "logLoss": 0.8229075465920851,
        },
        rel=1e-12,
    )


def test_silhouette_and_its_seeded_sample_equal_the_typescript_ones() -> None:
    points = arr(0, 0, 1, 0.5, 5, 5, 6, 5.5, 10, 0, 9.5, 1, 0.5, 1, 5.5, 4).reshape(8, 2).astype(np.float32)
    clusters = arr(0, 0, 1, 1, 2, 2, 0, 1)
    assert silhouette(points, clusters) == pytest.approx(0.819002835740413, rel=1e-12)
    assert silhouette(points, clusters, sample=5, seed=42) == pytest.approx(0.5038042095931884, rel=1e-12)
    draw = mulberry32(42)
    assert [draw(), draw(), draw()] == [0.6011037519201636, 0.44829055899754167, 0.8524657934904099]


def predictions(store: Any, result: dict[str, Any]) -> np.ndarray:
    body = json.loads(store.get(f"{result['candidateKey']}/holdout-predictions.json") or b"")
    return np.asarray(body["values"], np.float64).reshape(-1, body["width"])


CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str | None, str]] = [
    ("xgboost", "regress", {"max_depth": 3}, {"units": (10.0, 50.0)}, "auto", "mae"),
    ("xgboost", "regress", {"max_depth": 3}, {"units": (10.0, 50.0)}, "spearman", "spearman"),
    ("lightgbm", "forecast", {"num_leaves": 7, "min_child_samples": 5}, {"units": (2.0, 5.0)}, None, "mase"),
    ("logistic", "classify", {}, {"classes": 2}, "auto", "f1"),
    (
        "xgboost",
        "classify",
        {"max_depth": 3},
        {"classes": 3, "preprocessing": {"classes": ["a", "b", "c"]}},
        "auto",
        "f1",
    ),
    ("kmeans", "cluster", {"n_clusters": 3}, {}, "auto", "silhouette"),
]


@pytest.mark.parametrize(
    ("kind", "task", "params", "frame", "gate", "metric"), CASES, ids=[f"{c[0]}-{c[1]}-{c[5]}" for c in CASES]
)
def test_the_result_carries_the_gate_metric_of_the_holdout_in_the_targets_units(
    store, kind, task, params, frame, gate, metric
) -> None:
    key = write_frame(store, task, **frame)
    result = run_training(train_input(key, task, kind, params=params, epochs=6, gateMetric=gate), store, FakeControl())

    holdout = load_frame(store, key).holdout
    part, out = holdout.frame, predictions(store, result)
    if task in ("regress", "forecast"):
        scale, offset = frame["units"]
        actual, value = part["__actual"].to_numpy(), out[:, 0] * scale + offset
        expected = (
            regress_metrics(actual, value)
            if task == "regress"
            else forecast_metrics(actual, value, part["__entity"].to_numpy(dtype=str), part["__naiveScale"].to_numpy())
        )
    elif task == "classify":
        labels = part["__actual"].to_numpy()
        expected = classify_metrics(labels, out[:, 1]) if out.shape[1] == 2 else multi_class_metrics(labels, out)
    else:
        expected = {"silhouette": silhouette(holdout.x, out[:, 0])}
    assert result["holdoutScore"] == {"metric": metric, "value": pytest.approx(expected[metric], rel=1e-12)}


def test_a_binary_classifier_is_scored_on_the_probability_of_class_1_and_a_named_two_class_one_by_macro_f1(
    store,
) -> None:
    binary = write_frame(store, "classify", classes=2, seed=11)
    named = write_frame(store, "classify", classes=2, seed=11, preprocessing={"classes": ["no", "yes"]})
    scores = [
        run_training(train_input(key, "classify", "logistic", gateMetric="f1"), store, FakeControl())
        for key in (binary, named)
    ]
    assert scores[0]["holdoutScore"]["value"] != scores[1]["holdoutScore"]["value"]
    labels = load_frame(store, binary).holdout.frame["__actual"].to_numpy()
    out = predictions(store, scores[0])
    assert scores[0]["holdoutScore"]["value"] == pytest.approx(classify_metrics(labels, out[:, 1])["f1"], rel=1e-12)
    assert scores[1]["holdoutScore"]["value"] == pytest.approx(multi_class_metrics(labels, out)["f1"], rel=1e-12)


def test_a_frame_without_the_scoring_columns_gives_a_forecast_no_holdout_score(store) -> None:
    key = write_frame(store, "forecast", units=None)
    result = run_training(
        train_input(key, "forecast", "lightgbm", params={"num_leaves": 7, "min_child_samples": 5}, epochs=4),
        store,
        FakeControl(),
    )
    assert "holdoutScore" not in result and result["candidateKey"].endswith("/final")
