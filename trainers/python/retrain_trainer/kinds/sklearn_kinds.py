"""scikit-learn kinds: logistic and k-means fit once (checkpoint at the end); a random forest grows in steps."""

from __future__ import annotations

import math
import pickle
import time
from typing import Any

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

from ..contract import TrainInput
from ..onnx_tools import keep_output, output_of
from ..params import Param
from .base import Kind, Session, Trained, check_classes, task_loss

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def sklearn_to_onnx(estimator: Any, task: str, width: int) -> Any:
    """skl2onnx with the contract's input, probabilities as a tensor (no ZipMap) and the contract's output."""
    options = {id(estimator): {"zipmap": False}} if task == "classify" else None
    proto = to_onnx(
        estimator,
        initial_types=[("features", FloatTensorType([None, width]))],
        options=options,
        target_opset=TARGET_OPSET,
    )
    return keep_output(proto, output_of(proto, 1 if task == "classify" else 0), task)


def sklearn_answers(estimator: Any, task: str, x: np.ndarray) -> np.ndarray:
    """What the contract's output holds, from the native estimator."""
    if task == "classify":
        return np.asarray(estimator.predict_proba(x), np.float32)
    if task == "cluster":
        return np.asarray(estimator.predict(x), np.int64)
    return np.asarray(estimator.predict(x), np.float32).reshape(-1, 1)


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


class _SingleShot(Kind):
    """Fits once; the checkpoint written at the end lets a retry skip the fit."""

    def backend(self, session_device: str) -> str:
        return f"scikit-learn {_sklearn_version()} cpu"

    def total_epochs(self, inp: TrainInput, params: dict[str, Any]) -> int:
        return 1

    def build(self, session: Session) -> Any:
        raise NotImplementedError

    def losses(self, session: Session, estimator: Any) -> tuple[float, float | None]:
        f, task = session.frame, session.input.task
        loss = task_loss(task, sklearn_answers(estimator, task, f.train.x), f.train.y)
        assert loss is not None
        return loss, task_loss(task, sklearn_answers(estimator, task, f.holdout.x), f.holdout.y)

    def train(self, session: Session) -> Trained:
        task, frame = session.input.task, session.frame
        if task == "classify":
            check_classes(session)
        if session.resume is not None:
            estimator = pickle.loads(session.resume.files["model.pkl"])
        else:
            estimator = self.build(session)
            started = time.monotonic()
            session.batch(0, 1)
            estimator.fit(frame.train.x, frame.train.y)
            rate = len(frame.train.x) / max(time.monotonic() - started, 1e-9)
            loss, val = self.losses(session, estimator)
            body = pickle.dumps(estimator)
            session.epoch_end(1, loss, val, rate, lambda: ({"model.pkl": body}, {}))
        return Trained(
            onnx=sklearn_to_onnx(estimator, task, frame.width),
            predict=lambda x: sklearn_answers(estimator, task, x),
        )


class LogisticKind(_SingleShot):
    name = "logistic"
    tasks = ("classify",)
    params = {
        "C": Param(float, 1.0, "Inverse regularisation strength.", min=1e-12),
        "l1_ratio": Param(float, 0.0, "Elastic-net mix (0: L2, 1: L1; needs solver saga).", min=0.0, max=1.0),
        "solver": Param(str, "lbfgs", "Optimiser.", choices=("lbfgs", "newton-cg", "saga")),
        "max_iter": Param(int, 500, "Most solver iterations.", min=1),
        "tol": Param(float, 1e-4, "Stopping tolerance.", min=0.0),
        "class_weight": Param(
            str, "none", "`balanced` weighs classes by inverse frequency.", choices=("none", "balanced")
        ),
    }

    def build(self, session: Session) -> Any:
        from sklearn.linear_model import LogisticRegression

        p = session.params
        return LogisticRegression(
            C=p["C"],
            l1_ratio=p["l1_ratio"],
            solver=p["solver"],
            max_iter=p["max_iter"],
            tol=p["tol"],
            class_weight=None if p["class_weight"] == "none" else "balanced",
            random_state=session.seed,
        )


class KMeansKind(_SingleShot):
    name = "kmeans"
    tasks = ("cluster",)
    params = {
        "n_clusters": Param(int, 8, "Clusters (segments).", min=1),
        "n_init": Param(int, 4, "Seeded restarts; the best is kept.", min=1),
        "max_iter": Param(int, 300, "Most Lloyd iterations per restart.", min=1),
        "tol": Param(float, 1e-4, "Stopping tolerance.", min=0.0),
    }

    def build(self, session: Session) -> Any:
        from sklearn.cluster import KMeans

        p = session.params
        if p["n_clusters"] > len(session.frame.train.x):
            from ..errors import invalid_input

            raise invalid_input(f"kmeans n_clusters {p['n_clusters']} exceeds the train rows", param="n_clusters")
        return KMeans(
            n_clusters=p["n_clusters"],
            n_init=p["n_init"],
            max_iter=p["max_iter"],
            tol=p["tol"],
            random_state=session.seed,
        )

    def losses(self, session: Session, estimator: Any) -> tuple[float, float | None]:
        # Mean squared distance to the nearest centre (inertia per row), on each split.
        f = session.frame
        loss = float(-estimator.score(f.train.x) / len(f.train.x))
        val = float(-estimator.score(f.holdout.x) / len(f.holdout.x)) if len(f.holdout.x) else None
        return loss, val


class RandomForestKind(Kind):
    name = "random-forest"
    tasks = ("forecast", "regress", "classify")
    params = {
        "n_estimators": Param(int, 100, "Trees.", min=1),
        "max_depth": Param(int, None, "Deepest tree (unset: no limit).", min=1),
        "min_samples_leaf": Param(int, 1, "Least rows in a leaf.", min=1),
        "max_features": Param(float, 1.0, "Share of the features tried per split.", min=0.0, max=1.0),
        "trees_per_step": Param(int, 10, "Trees added between checkpoints (warm start).", min=1),
    }

    def backend(self, session_device: str) -> str:
        return f"scikit-learn {_sklearn_version()} cpu"

    def total_epochs(self, inp: TrainInput, params: dict[str, Any]) -> int:
        return math.ceil(int(params["n_estimators"]) / int(params["trees_per_step"]))

    def train(self, session: Session) -> Trained:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        task, p, frame = session.input.task, session.params, session.frame
        classify = task == "classify"
        if classify:
            check_classes(session)
        if session.resume is not None:
            forest = pickle.loads(session.resume.files["model.pkl"])
        else:
            forest = (RandomForestClassifier if classify else RandomForestRegressor)(
                n_estimators=0,
                max_depth=p["max_depth"],
                min_samples_leaf=p["min_samples_leaf"],
                max_features=p["max_features"],
                warm_start=True,
                random_state=session.seed,
                n_jobs=1,
            )
        total = self.total_epochs(session.input, p)
        for step in range(session.start_epoch + 1, total + 1):
            started = time.monotonic()
            forest.set_params(n_estimators=min(step * p["trees_per_step"], p["n_estimators"]))
            forest.fit(frame.train.x, frame.train.y)
            rate = len(frame.train.x) / max(time.monotonic() - started, 1e-9)
            loss = task_loss(task, sklearn_answers(forest, task, frame.train.x), frame.train.y)
            val = task_loss(task, sklearn_answers(forest, task, frame.holdout.x), frame.holdout.y)
            assert loss is not None
            body = pickle.dumps(forest)
            session.epoch_end(step, loss, val, rate, lambda body=body: ({"model.pkl": body}, {}))  # type: ignore[misc]
        return Trained(
            onnx=sklearn_to_onnx(forest, task, frame.width),
            predict=lambda x: sklearn_answers(forest, task, x),
        )
