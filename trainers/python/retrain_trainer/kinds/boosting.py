"""XGBoost and LightGBM: rounds are epochs, checkpointed every few rounds; a resume continues the saved booster."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from onnxmltools import convert_lightgbm, convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType

from ..onnx_tools import keep_output, output_of
from ..params import Param
from .base import Kind, Session, Snapshot, Trained, check_classes
from .devices import cuda_visible

TARGET_OPSET = 15
"""The highest opset onnxmltools 1.16 converts boosters to."""


def _answers(model: Any, task: str, x: np.ndarray) -> np.ndarray:
    if task == "classify":
        return np.asarray(model.predict_proba(x), np.float32)
    return np.asarray(model.predict(x), np.float32).reshape(-1, 1)


class _RoundReporter:
    """Per round: losses on both splits from the booster's own evaluation, checkpoints, stop checks."""

    def __init__(self, session: Session, rows: int) -> None:
        self.session, self.rows = session, rows
        self.every = int(session.params["checkpoint_every"])
        self.started = time.monotonic()
        self.first_round: int | None = None

    def report(self, round_done: int, loss: float, val_loss: float | None, snapshot: Snapshot) -> None:
        if self.first_round is None:
            self.first_round = round_done - 1
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.rows * (round_done - self.first_round) / elapsed
        last = round_done == self.session.epochs
        self.session.epoch_end(
            round_done, loss, val_loss, rate, snapshot, checkpoint=last or round_done % self.every == 0
        )


def _as_loss(task: str, metric: float) -> float:
    # Regressors evaluate RMSE; the reported loss is MSE, like every other kind's.
    return metric * metric if task != "classify" else metric


class XGBoostKind(Kind):
    name = "xgboost"
    tasks = ("forecast", "regress", "classify")
    params = {
        "max_depth": Param(int, 6, "Deepest tree.", min=1, max=64),
        "learning_rate": Param(float, 0.1, "Shrinkage per round (eta).", min=0.0, max=1.0),
        "subsample": Param(float, 1.0, "Rows sampled per tree.", min=0.01, max=1.0),
        "colsample_bytree": Param(float, 1.0, "Columns sampled per tree.", min=0.01, max=1.0),
        "min_child_weight": Param(float, 1.0, "Least hessian sum in a leaf.", min=0.0),
        "reg_lambda": Param(float, 1.0, "L2 regularisation.", min=0.0),
        "reg_alpha": Param(float, 0.0, "L1 regularisation.", min=0.0),
        "gamma": Param(float, 0.0, "Least loss reduction to split.", min=0.0),
        "tree_method": Param(str, "hist", "Tree construction.", choices=("hist", "approx", "exact")),
        "checkpoint_every": Param(int, 10, "Rounds between checkpoints.", min=1),
    }

    def device(self, wants_cuda: bool) -> str:
        return "cuda" if wants_cuda and cuda_visible() else "cpu"

    def backend(self, session_device: str) -> str:
        import xgboost

        return f"xgboost {xgboost.__version__} {session_device}"

    def train(self, session: Session) -> Trained:
        import xgboost as xgb

        task, p, frame = session.input.task, session.params, session.frame
        classify = task == "classify"
        k = check_classes(session) if classify else 0
        options: dict[str, Any] = {
            key: p[key]
            for key in (
                "max_depth",
                "learning_rate",
                "subsample",
                "colsample_bytree",
                "min_child_weight",
                "reg_lambda",
                "reg_alpha",
                "gamma",
                "tree_method",
            )
        }
        options |= {"random_state": session.seed, "device": session.device, "n_jobs": 0}
        options["eval_metric"] = ("logloss" if k == 2 else "mlogloss") if classify else "rmse"
        start = session.start_epoch
        previous = None
        if session.resume is not None:
            previous = xgb.Booster()
            previous.load_model(bytearray(session.resume.files["model.ubj"]))
        has_val = len(frame.holdout.x) > 0
        evals = [(frame.train.x, frame.train.y)] + ([(frame.holdout.x, frame.holdout.y)] if has_val else [])
        reporter = _RoundReporter(session, len(frame.train.x))

        class Callback(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                metric = options["eval_metric"]
                loss = _as_loss(task, float(evals_log["validation_0"][metric][-1]))
                val = _as_loss(task, float(evals_log["validation_1"][metric][-1])) if has_val else None

                def snapshot() -> tuple[dict[str, bytes], dict[str, Any]]:
                    return {"model.ubj": bytes(model.save_raw("ubj"))}, {}

                reporter.report(model.num_boosted_rounds(), loss, val, snapshot)
                return False

        remaining = session.epochs - start
        estimator_type = xgb.XGBClassifier if classify else xgb.XGBRegressor
        estimator = estimator_type(
            n_estimators=max(remaining, 1), callbacks=[Callback()] if remaining > 0 else None, **options
        )
        estimator.fit(frame.train.x, frame.train.y, eval_set=evals, xgb_model=previous, verbose=False)
        if remaining <= 0:
            # Resumed after the last round: the checkpoint is the model (the one-round fit only set shapes).
            assert previous is not None
            estimator._Booster = previous
        booster = estimator.get_booster()
        config = json.loads(booster.save_config())
        used = config["learner"]["generic_param"].get("device", "cpu")
        session.device = "cuda" if str(used).startswith("cuda") else "cpu"
        estimator.set_params(device="cpu")
        proto = convert_xgboost(
            estimator,
            initial_types=[("features", FloatTensorType([None, frame.width]))],
            target_opset=TARGET_OPSET,
        )
        proto = keep_output(proto, output_of(proto, 1 if classify else 0), task)
        return Trained(
            onnx=proto,
            predict=lambda x: _answers(estimator, task, x),
            native={"model.ubj": bytes(booster.save_raw("ubj"))},
        )


class LightGBMKind(Kind):
    name = "lightgbm"
    tasks = ("forecast", "regress", "classify")
    params = {
        "num_leaves": Param(int, 31, "Leaves per tree.", min=2, max=131072),
        "max_depth": Param(int, -1, "Deepest tree (-1: no limit).", min=-1),
        "learning_rate": Param(float, 0.1, "Shrinkage per round.", min=0.0, max=1.0),
        "min_child_samples": Param(int, 20, "Least rows in a leaf.", min=1),
        "subsample": Param(float, 1.0, "Rows sampled per tree (bagging).", min=0.01, max=1.0),
        "colsample_bytree": Param(float, 1.0, "Columns sampled per tree.", min=0.01, max=1.0),
        "reg_lambda": Param(float, 0.0, "L2 regularisation.", min=0.0),
        "reg_alpha": Param(float, 0.0, "L1 regularisation.", min=0.0),
        "checkpoint_every": Param(int, 10, "Rounds between checkpoints.", min=1),
    }

    def backend(self, session_device: str) -> str:
        import lightgbm

        return f"lightgbm {lightgbm.__version__} {session_device}"

    def train(self, session: Session) -> Trained:
        import lightgbm as lgb

        task, p, frame = session.input.task, session.params, session.frame
        classify = task == "classify"
        k = check_classes(session) if classify else 0
        options: dict[str, Any] = {key: p[key] for key in self.params if key != "checkpoint_every"}
        options |= {"random_state": session.seed, "verbose": -1, "n_jobs": 1, "deterministic": True}
        if p["subsample"] < 1.0:
            options["subsample_freq"] = 1
        metric = ("binary_logloss" if k == 2 else "multi_logloss") if classify else "l2"
        start = session.start_epoch
        previous = lgb.Booster(model_str=session.resume.files["model.txt"].decode()) if session.resume else None
        has_val = len(frame.holdout.x) > 0
        evals = [(frame.train.x, frame.train.y)] + ([(frame.holdout.x, frame.holdout.y)] if has_val else [])
        reporter = _RoundReporter(session, len(frame.train.x))

        def callback(env: Any) -> None:
            results = {name: value for name, _, value, _ in env.evaluation_result_list}
            loss = float(results["training"])
            val = float(results["valid_1"]) if has_val else None

            def snapshot() -> tuple[dict[str, bytes], dict[str, Any]]:
                return {"model.txt": env.model.model_to_string().encode()}, {}

            reporter.report(env.iteration + 1, loss, val, snapshot)

        estimator_type = lgb.LGBMClassifier if classify else lgb.LGBMRegressor
        estimator = estimator_type(n_estimators=max(session.epochs - start, 1), **options)
        estimator.fit(
            frame.train.x,
            frame.train.y,
            eval_X=tuple(x for x, _ in evals),
            eval_y=tuple(y for _, y in evals),
            eval_names=["training", "valid_1"][: len(evals)],
            eval_metric=metric,
            init_model=previous,
            callbacks=[callback] if start < session.epochs else [],
        )
        if start >= session.epochs:
            assert previous is not None
            estimator._Booster = previous
        proto = convert_lightgbm(
            estimator,
            initial_types=[("features", FloatTensorType([None, frame.width]))],
            target_opset=TARGET_OPSET,
            zipmap=False,
        )
        proto = keep_output(proto, output_of(proto, 1 if classify else 0), task)
        return Trained(
            onnx=proto,
            predict=lambda x: _answers(estimator, task, x),
            native={"model.txt": estimator.booster_.model_to_string().encode()},
        )
