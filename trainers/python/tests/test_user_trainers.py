"""User trainers: the worked example (examples/ridge_trainer.py) and one that returns an ONNX graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from temporalio.exceptions import ApplicationError

from retrain_trainer import UserResult, trainer
from retrain_trainer.frame import load_frame
from retrain_trainer.training import prepare, train_candidate
from retrain_trainer.user import REGISTRY, load_user_trainers

from .helpers import FakeControl, train_input, write_frame

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ridge_trainer.py"


def test_the_example_trainer_loads_from_a_path_trains_and_serves_like_its_own_model(store) -> None:
    assert "ridge" in load_user_trainers([str(EXAMPLE)]) or "ridge" in REGISTRY
    key = write_frame(store, "regress")
    control = FakeControl()
    result, trained = train_candidate(train_input(key, "regress", "ridge", params={"alpha": 0.5}), store, control)
    assert result["format"] == "onnx" and result["backend"] == "user:ridge cpu"
    assert result["metrics"]["mae"] < 5.0
    rows = load_frame(store, key).holdout.x
    served = ort.InferenceSession(store.get(f"{result['candidateKey']}/model.onnx") or b"").run(
        None, {"features": rows}
    )[0]
    assert served.shape == (len(rows), 1)
    np.testing.assert_allclose(served, trained.predict(rows), rtol=1e-5, atol=1e-3)
    assert control.heartbeats[-1]["checkpoint"] is not None


def test_the_example_trainer_validates_its_params_and_tasks() -> None:
    load_user_trainers([str(EXAMPLE)])
    with pytest.raises(ApplicationError, match="alfa"):
        prepare(train_input("datasets/m/w", "regress", "ridge", params={"alfa": 1.0}))
    with pytest.raises(ApplicationError, match="cannot do task classify"):
        prepare(train_input("datasets/m/w", "classify", "ridge"))


def test_a_trainer_may_return_an_onnx_graph(store) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    @trainer("onnx-logistic", tasks=("classify",))
    def onnx_logistic(train, validation, params):
        model = LogisticRegression(C=params.get("C", 1.0)).fit(train.x, train.y)
        graph = to_onnx(model, train.x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
        return UserResult(graph, {"train_accuracy": float(model.score(train.x, train.y))})

    key = write_frame(store, "classify", classes=3)
    result, trained = train_candidate(
        train_input(key, "classify", "onnx-logistic", params={"C": 2.0}), store, FakeControl()
    )
    assert result["metrics"]["train_accuracy"] > 0.5
    rows = load_frame(store, key).holdout.x
    session = ort.InferenceSession(store.get(f"{result['candidateKey']}/model.onnx") or b"")
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    assert [i.name for i in session.get_inputs()] == ["features"]
    np.testing.assert_allclose(session.run(None, {"features": rows})[0], trained.predict(rows), atol=1e-6)


def test_a_user_trainer_cannot_take_a_built_in_name() -> None:
    with pytest.raises(ValueError, match="built-in"):
        trainer("xgboost")(lambda train, validation, params: None)
