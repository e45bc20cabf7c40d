"""Small synthetic feature frames written in the frame format, and a Control that records heartbeats."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from retrain_trainer.store import FileBlobStore

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPORAL_BIN = REPO_ROOT / ".tools" / "bin" / "temporal"


class Killed(Exception):
    """Stands for the worker dying right after a checkpoint."""


@dataclass
class FakeControl:
    """Records heartbeats; `kill_at` raises Killed once a heartbeat names a checkpoint at or past that epoch;
    `stop` answers a stop reason once `stop_after` heartbeats were sent."""

    kill_at: int | None = None
    stop: str | None = None
    stop_after: int = 0
    heartbeats: list[dict[str, Any]] = field(default_factory=list)

    def heartbeat(self, details: dict[str, Any]) -> None:
        self.heartbeats.append(json.loads(json.dumps(details)))
        checkpoint = details.get("checkpoint")
        if self.kill_at is not None and checkpoint and checkpoint["epoch"] >= self.kill_at:
            raise Killed(checkpoint["key"])

    def stop_reason(self) -> str | None:
        return self.stop if self.stop and len(self.heartbeats) >= self.stop_after else None


def write_frame(
    store: FileBlobStore,
    task: str,
    *,
    rows: int = 240,
    holdout: int = 60,
    width: int = 4,
    classes: int = 2,
    lagged: bool = False,
    seed: int = 7,
    units: tuple[float, float] | None = (1.0, 0.0),
    naive_scales: tuple[float, float, float] = (1.0, 2.0, float("nan")),
    preprocessing: dict[str, Any] | None = None,
) -> str:
    """Writes `datasets/<model>/<workflowId>/frame/` as the export stage does; returns the dataset key.

    `units` (scale, offset) maps a `value` output into the target's units (the scoring columns), None
    writes a frame without the scoring columns; `naive_scales` are the MASE scales of entities e0..e2."""
    rng = np.random.default_rng(seed)
    n = rows + holdout
    if lagged:
        # Two features at lags 2, 1, 0, plus one unlagged calendar column.
        names = [f"{feature}@t-{lag}" for lag in (2, 1, 0) for feature in ("load", "temp")] + ["dow"]
    else:
        names = [f"x{i}" for i in range(width)]
    width = len(names)
    x = rng.normal(size=(n, width)).astype(np.float32)
    signal = x @ np.linspace(1.0, -0.5, width) + 0.3 * x[:, 0] * x[:, 1]
    columns: dict[str, Any] = {
        "__entity": pa.array([f"e{i % 3}" for i in range(n)]),
        "__time": pa.array(np.arange(n, dtype=np.int64) * 3_600_000_000),
        "__split": pa.array(["train"] * rows + ["holdout"] * holdout),
    }
    class_names = None
    if task == "classify":
        edges = np.quantile(signal, np.linspace(0, 1, classes + 1)[1:-1])
        columns["__target"] = pa.array(np.digitize(signal, edges).astype(np.float64))
        class_names = [f"c{i}" for i in range(classes)]
    elif task != "cluster":
        columns["__target"] = pa.array((50.0 + 10.0 * signal + rng.normal(scale=0.5, size=n)).astype(np.float64))
    if units is not None:
        scale, offset = units
        if "__target" in columns:
            target = columns["__target"].to_numpy()
            columns["__actual"] = pa.array(target if task == "classify" else target * scale + offset)
        columns["__outScale"] = pa.array(np.full(n, scale if task != "classify" else 1.0))
        columns["__outOffset"] = pa.array(np.full(n, offset if task != "classify" else 0.0))
        columns["__naiveScale"] = pa.array([naive_scales[i % 3] for i in range(n)], type=pa.float64())
    for i in range(width):
        columns[f"f{i}"] = pa.array(x[:, i], type=pa.float32())
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    key = f"datasets/m-{uuid.uuid4().hex[:8]}/retrain-test"
    store.put(f"{key}/frame/frame.parquet", buffer.getvalue())
    meta = {
        "task": task,
        "featureColumns": [f"f{i}" for i in range(width)],
        "featureNames": names,
        "classes": class_names,
        "rows": {"train": rows, "holdout": holdout},
        "preprocessing": preprocessing or {"scaling": "per-entity", "note": "copied, never interpreted"},
    }
    store.put(f"{key}/frame/frame.json", json.dumps(meta).encode())
    return key


def train_input(dataset_key: str, task: str, architecture: str, **overrides: Any) -> dict[str, Any]:
    """A trainModel input as the TypeScript workflow sends it."""
    model = dataset_key.split("/")[1]
    params = overrides.pop("params", {})
    inp: dict[str, Any] = {
        "model": model,
        "workflowId": "retrain-test",
        "datasetKey": dataset_key,
        "task": task,
        "hyperparams": {"architecture": architecture, "params": params, "seed": 3},
        "epochs": 8,
        "incremental": False,
        "checkpointPrefix": f"checkpoints/{model}/retrain-test/{uuid.uuid4().hex[:6]}",
        "gateMetric": "mae",
    }
    inp.update(overrides)
    return inp
