"""A user trainer: scaled ridge regression, registered as the kind `ridge`.

Run the worker with it: RETRAIN_PY_TRAINERS=trainers/python/examples/ridge_trainer.py python -m retrain_trainer
and name it in a spec: "trainer": "python", "hyperparams": {"architecture": "ridge", "params": {"alpha": 0.5}}.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from retrain_trainer import Param, UserData, UserResult, trainer


@trainer(
    "ridge",
    params={"alpha": Param(float, 1.0, "L2 strength.", min=0.0)},
    tasks=("forecast", "regress"),
)
def ridge(train: UserData, validation: UserData, params: dict[str, Any]) -> UserResult:
    model = make_pipeline(StandardScaler(), Ridge(alpha=params["alpha"]))
    model.fit(train.x, train.y)
    metrics: dict[str, float] = {}
    if len(validation.x) and validation.y is not None:
        errors = model.predict(validation.x) - validation.y
        metrics["mae"] = float(np.mean(np.abs(errors)))
    # The worker converts the fitted pipeline to ONNX (skl2onnx) and checks it answers the same.
    return UserResult(model, metrics)
