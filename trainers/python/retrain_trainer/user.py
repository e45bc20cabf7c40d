"""User trainers: a function registered by name with @trainer, trained and exported like a built-in kind.

    from retrain_trainer import trainer

    @trainer("ridge", params={"alpha": Param(float, 1.0, "L2 strength.")}, tasks=("regress", "forecast"))
    def ridge(train: UserData, validation: UserData, params: dict[str, Any]) -> UserResult:
        model = Ridge(alpha=params["alpha"]).fit(train.x, train.y)
        return UserResult(model, {"r2": model.score(validation.x, validation.y)})

The function returns a fitted model (scikit-learn, or XGBoost/LightGBM's scikit-learn estimators: the
worker converts it) or an ONNX graph (input `features` [n, F] float32, one output), with metrics.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pandas as pd

from .errors import invalid_input
from .frame import TASKS, Floats, Split
from .kinds.base import Kind, Session, Trained, task_loss
from .kinds.sklearn_kinds import sklearn_answers, sklearn_to_onnx
from .onnx_tools import contract_output, keep_output, name_input
from .params import Param


@dataclass(frozen=True)
class UserData:
    """One split as a user trainer sees it."""

    x: Floats
    """[n, F] float32 features in featureColumns order: what the served model receives."""
    y: npt.NDArray[np.float64] | None
    frame: pd.DataFrame
    feature_columns: list[str]
    feature_names: list[str]
    task: str
    classes: list[str] | None


@dataclass
class UserResult:
    model: Any
    """A fitted estimator (predict / predict_proba) or an onnx.ModelProto (or its bytes)."""
    metrics: dict[str, float] = field(default_factory=dict)


TrainerFn = Callable[[UserData, UserData, dict[str, Any]], "UserResult | Any"]


@dataclass(frozen=True)
class UserTrainer:
    name: str
    fn: TrainerFn
    params: dict[str, Param] | None
    tasks: tuple[str, ...]


REGISTRY: dict[str, UserTrainer] = {}


def trainer(
    name: str, *, params: dict[str, Param] | None = None, tasks: tuple[str, ...] = TASKS
) -> Callable[[TrainerFn], TrainerFn]:
    """Registers the decorated function as the kind `name` (hyperparams.architecture).

    `params` declares the parameters it takes (validated like a built-in kind's); without it the
    function gets `hyperparams.params` unchecked.
    """
    from .kinds import BUILTIN_KINDS

    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"trainer {name}: unknown tasks {sorted(unknown)}")

    def register(fn: TrainerFn) -> TrainerFn:
        if name in BUILTIN_KINDS:
            raise ValueError(f"trainer {name}: a built-in kind has that name")
        existing = REGISTRY.get(name)
        if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"trainer {name} is registered twice")
        REGISTRY[name] = UserTrainer(name, fn, params, tuple(tasks))
        return fn

    return register


def load_user_trainers(specs: tuple[str, ...] | list[str]) -> list[str]:
    """Imports each module name or .py path (RETRAIN_PY_TRAINERS); returns the trainer names registered."""
    before = set(REGISTRY)
    for spec in specs:
        if spec.endswith(".py") or "/" in spec:
            path = Path(spec).resolve()
            module_name = f"retrain_user_{path.stem}"
            loader_spec = importlib.util.spec_from_file_location(module_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise ImportError(f"cannot load user trainers from {path}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[module_name] = module
            loader_spec.loader.exec_module(module)
        else:
            importlib.import_module(spec)
    return sorted(set(REGISTRY) - before)


def _data(split: Split, session: Session) -> UserData:
    f = session.frame
    return UserData(split.x, split.y, split.frame, f.feature_columns, f.feature_names, f.task, f.classes)


def _onnx_of(model: Any, task: str, width: int) -> tuple[onnx.ModelProto, bool]:
    """The graph, and whether it came from the user as ONNX (then onnxruntime gives the native answers)."""
    if isinstance(model, bytes | bytearray):
        model = onnx.load_from_string(bytes(model))
    if isinstance(model, onnx.ModelProto):
        names = [o.name for o in model.graph.output]
        source = contract_output(task) if contract_output(task) in names else names[0]
        return keep_output(name_input(model), source, task), True
    module = type(model).__module__
    if module.startswith(("xgboost", "lightgbm")):
        from onnxmltools import convert_lightgbm, convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        types = [("features", FloatTensorType([None, width]))]
        if module.startswith("xgboost"):
            proto = convert_xgboost(model, initial_types=types, target_opset=15)
        else:
            proto = convert_lightgbm(model, initial_types=types, target_opset=15, zipmap=False)
        return keep_output(proto, proto.graph.output[1 if task == "classify" else 0].name, task), False
    return sklearn_to_onnx(model, task, width), False


class UserKind(Kind):
    """A registered user trainer run as a kind: fit once, checkpoint the graph at the end."""

    def __init__(self, user: UserTrainer) -> None:
        self.user = user
        self.name = user.name
        self.tasks = user.tasks
        self.params = user.params or {}

    def backend(self, session_device: str) -> str:
        return f"user:{self.name} cpu"

    def total_epochs(self, inp: Any, params: dict[str, Any]) -> int:
        return 1

    def train(self, session: Session) -> Trained:
        import onnxruntime as ort

        task, frame = session.input.task, session.frame
        if session.resume is not None:
            proto, from_onnx, estimator = (
                onnx.load_from_string(session.resume.files["model.onnx"]),
                True,
                None,
            )
        else:
            started = time.monotonic()
            session.batch(0, 1)
            out = self.user.fn(_data(frame.train, session), _data(frame.holdout, session), dict(session.params))
            result = out if isinstance(out, UserResult) else UserResult(out)
            try:
                proto, from_onnx = _onnx_of(result.model, task, frame.width)
            except Exception as err:
                raise invalid_input(f"trainer {self.name} returned a model the worker cannot convert: {err}") from err
            estimator = None if from_onnx else result.model
            session.user_metrics = {k: float(v) for k, v in result.metrics.items()}
        runtime = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])

        def answers(x: Floats) -> npt.NDArray[Any]:
            if estimator is not None:
                return sklearn_answers(estimator, task, x)
            return np.asarray(runtime.run(None, {"features": np.asarray(x, np.float32)})[0])

        if session.resume is None:
            loss = task_loss(task, answers(frame.train.x), frame.train.y) if task != "cluster" else 0.0
            val = task_loss(task, answers(frame.holdout.x), frame.holdout.y) if task != "cluster" else None
            rate = len(frame.train.x) / max(time.monotonic() - started, 1e-9)
            body = proto.SerializeToString()
            session.epoch_end(1, loss or 0.0, val, rate, lambda: ({"model.onnx": body}, {}))
        return Trained(onnx=proto, predict=answers)
