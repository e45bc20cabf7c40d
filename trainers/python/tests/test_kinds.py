"""Every kind trains on a small frame, and its ONNX graph answers like the native model."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from retrain_trainer.training import train_candidate

from .helpers import FakeControl, train_input, write_frame

CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("xgboost", "regress", {"max_depth": 3, "checkpoint_every": 4}, {}),
    ("xgboost", "classify", {"max_depth": 3}, {"classes": 3}),
    ("lightgbm", "forecast", {"num_leaves": 7, "min_child_samples": 5}, {}),
    ("lightgbm", "classify", {"num_leaves": 7, "min_child_samples": 5}, {"classes": 2}),
    ("logistic", "classify", {}, {"classes": 2}),
    ("logistic", "classify", {"C": 0.5}, {"classes": 3}),
    ("random-forest", "regress", {"n_estimators": 20, "max_depth": 5}, {}),
    ("random-forest", "classify", {"n_estimators": 20, "max_depth": 5}, {"classes": 3}),
    ("kmeans", "cluster", {"n_clusters": 3}, {}),
    ("mlp", "regress", {"hidden": [16, 16], "batch_size": 32}, {}),
    ("mlp", "classify", {"hidden": [16], "batch_size": 32}, {"classes": 3}),
    ("lstm", "forecast", {"hidden_size": 8, "batch_size": 32}, {"lagged": True}),
]


@pytest.mark.parametrize(
    ("kind", "task", "params", "frame"), CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)]
)
def test_kind_trains_and_its_onnx_graph_answers_like_the_native_model(store, kind, task, params, frame) -> None:
    key = write_frame(store, task, **frame)
    control = FakeControl()
    result, trained = train_candidate(train_input(key, task, kind, params=params, epochs=6), store, control)

    candidate = result["candidateKey"]
    graph = store.get(f"{candidate}/model.onnx")
    assert graph is not None
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    output = {"regress": "value", "forecast": "value", "classify": "probabilities", "cluster": "cluster"}[task]
    assert [o.name for o in session.get_outputs()] == [output]
    meta = json.loads(store.get(f"{key}/frame/frame.json") or b"")
    rows = np.concatenate([trained_rows(store, key, split) for split in ("train", "holdout")])
    served = session.run(None, {"features": rows})[0]
    native = trained.predict(rows)
    if task == "classify":
        assert served.shape == (len(rows), len(meta["classes"]))
        np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(served, native, atol=1e-5)
    elif task == "cluster":
        assert served.dtype == np.int64 and served.shape == (len(rows),)
        np.testing.assert_array_equal(served, native)
    else:
        assert served.shape == (len(rows), 1)
        np.testing.assert_allclose(served, native, rtol=1e-5, atol=1e-3)

    assert result["format"] == "onnx" and result["device"] == "cpu"
    assert result["backend"].endswith(" cpu") and result["loss"] >= 0
    assert result["warmStart"] == {"skipped": "incremental: false"}
    assert json.loads(store.get(f"{candidate}/preprocessing.json") or b"") == meta["preprocessing"]
    described = json.loads(store.get(f"{candidate}/candidate.json") or b"")
    assert described["kind"] == kind and described["format"] == "onnx" and described["classes"] == meta["classes"]
    assert described["onnxCheck"]["maxAbsDiff"] < 1e-3
    beats = control.heartbeats
    assert beats[-1]["epoch"] == result["epochs"] == beats[-1]["totalEpochs"]
    assert beats[-1]["checkpoint"]["key"].startswith(result["candidateKey"].rsplit("/", 1)[0])


def trained_rows(store, key: str, split: str) -> np.ndarray:
    from retrain_trainer.frame import load_frame

    frame = load_frame(store, key)
    return (frame.train if split == "train" else frame.holdout).x


def test_a_better_model_than_the_mean_is_learned(store) -> None:
    """The regressors learn the signal: validation MSE well under the target's variance."""
    key = write_frame(store, "regress", rows=400)
    result, _ = train_candidate(
        train_input(key, "regress", "xgboost", params={"max_depth": 3}, epochs=40), store, FakeControl()
    )
    from retrain_trainer.frame import load_frame

    holdout = load_frame(store, key).holdout.y
    assert holdout is not None
    assert result["valLoss"] < 0.5 * float(np.var(holdout))
