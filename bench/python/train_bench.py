"""Training throughput of the Python trainer's kinds beside the PyTorch yardstick (bench/train.ts runs it).

The yardstick: a plain PyTorch loop on the CPU, one thread, the demo forecaster's MLP 18-32-32-1, batch
256, Adam, MSE, on `rows` random rows (what bench/train.ts trains TensorFlow.js on). Beside it, each kind
as the worker trains it (retrain_trainer.training.train_candidate on a feature frame in a file store:
heartbeats, per-epoch validation, checkpoints, ONNX export), on the same rows:

- `mlp` (PyTorch, hidden [32, 32], batch 256): the kind's own samples/s (an epoch's rows over its time);
- `xgboost` and `lightgbm`: boosting rows per second per round (rows x rounds over the rounds' time,
  checkpoints included), default parameters.

Prints one JSON document. Run with the venv's python: `.tools/py/bin/python bench/python/train_bench.py`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "trainers" / "python"))

WIDTH, HIDDEN, BATCH = 18, 32, 256


class _Quiet:
    """The activity's side of a training without Temporal: heartbeats dropped, never stopped."""

    def heartbeat(self, details: dict[str, Any]) -> None:
        pass

    def stop_reason(self) -> str | None:
        return None


def data(rows: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((rows, WIDTH), dtype=np.float32), rng.random(rows).astype(
        np.float64
    )


def yardstick(x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    """Samples/s of the plain PyTorch loop: per epoch a shuffled order, then Adam steps of BATCH rows."""
    import torch

    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(WIDTH, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, 1),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y).float().unsqueeze(1)
    n = len(tx)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n)
        for b in range(0, n, BATCH):
            index = order[b : b + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(tx[index]), ty[index])
            loss.backward()
            optimizer.step()
    float(loss.item())
    return n * epochs / (time.perf_counter() - started)


def write_frame(
    store: Any, key: str, x: np.ndarray, y: np.ndarray, holdout: int
) -> None:
    """A forecast feature frame (docs/trainers.md): the first rows train, the last `holdout` rows hold out."""
    import pandas as pd

    n = len(x)
    columns = [f"f{i}" for i in range(WIDTH)]
    df = pd.DataFrame(x, columns=columns)
    df.insert(0, "__target", y)
    df.insert(0, "__split", np.where(np.arange(n) < n - holdout, "train", "holdout"))
    df.insert(0, "__time", np.arange(n, dtype=np.int64) * 3_600_000_000)
    df.insert(0, "__entity", "bench")
    body = io.BytesIO()
    df.to_parquet(body, index=False)
    names = [f"value{i % 3}@t-{5 - i // 3}" for i in range(WIDTH)]
    meta = {
        "task": "forecast",
        "featureColumns": columns,
        "featureNames": names,
        "classes": None,
        "rows": {"train": n - holdout, "holdout": holdout},
        "preprocessing": {},
    }
    store.put(f"{key}/frame/frame.parquet", body.getvalue())
    store.put(f"{key}/frame/frame.json", json.dumps(meta).encode())


def kind_run(
    store: Any, key: str, kind: str, params: dict[str, Any], epochs: int, run: int
) -> dict[str, Any]:
    """One trainModel body on the frame: the result's samplesPerSec (the last epoch's or the rounds') and wall time."""
    from retrain_trainer.training import train_candidate

    raw = {
        "model": "bench",
        "workflowId": f"bench-{kind}-{run}",
        "datasetKey": key,
        "task": "forecast",
        "hyperparams": {"architecture": kind, "params": params, "seed": 1},
        "epochs": epochs,
        "incremental": False,
    }
    started = time.perf_counter()
    result, _ = train_candidate(raw, store, _Quiet())
    return {
        "samplesPerSec": float(result["samplesPerSec"]),
        "wallSeconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=50, help="boosting rounds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--holdout", type=int, default=2000, help="holdout rows the kinds validate on"
    )
    parser.add_argument(
        "--yardstick-only",
        action="store_true",
        help="only the yardstick (to bracket other runs)",
    )
    args = parser.parse_args()

    import lightgbm
    import torch
    import xgboost
    from retrain_trainer.store import FileBlobStore

    # One thread for PyTorch: the yardstick's and the mlp kind's (the worker leaves torch's default).
    torch.set_num_threads(1)
    x, y = data(args.rows + args.holdout)
    train_x, train_y = x[: args.rows], y[: args.rows]
    logging_off()

    yardstick(train_x, train_y, 1)  # warm-up: allocator, kernels
    yard = [yardstick(train_x, train_y, args.epochs) for _ in range(args.repeats)]

    kinds: dict[str, Any] = {}
    if args.yardstick_only:
        print(
            json.dumps(
                {
                    "yardstick": {
                        "samplesPerSec": statistics.median(yard),
                        "runs": [round(v) for v in yard],
                    }
                }
            )
        )
        return
    with tempfile.TemporaryDirectory(prefix="retrain-bench-train-") as tmp:
        store = FileBlobStore(tmp)
        key = "datasets/bench/train"
        write_frame(store, key, x, y, args.holdout)
        plan = {
            "mlp": (
                {"hidden": [HIDDEN, HIDDEN], "batch_size": BATCH},
                args.epochs,
                "samples/s",
            ),
            "xgboost": ({}, args.rounds, "rows/s per round"),
            "lightgbm": ({}, args.rounds, "rows/s per round"),
        }
        for kind, (params, epochs, unit) in plan.items():
            kind_run(store, key, kind, params, 1, 0)  # warm-up
            runs = [
                kind_run(store, key, kind, params, epochs, r + 1)
                for r in range(args.repeats)
            ]
            kinds[kind] = {
                "unit": unit,
                "params": params,
                "epochs": epochs,
                "samplesPerSec": statistics.median(r["samplesPerSec"] for r in runs),
                "wallSeconds": statistics.median(r["wallSeconds"] for r in runs),
                "runs": [round(r["samplesPerSec"]) for r in runs],
            }
    kinds["mlp"]["threads"] = torch.get_num_threads()
    kinds["xgboost"]["threads"] = os.cpu_count()  # n_jobs 0: every core
    kinds["lightgbm"]["threads"] = 1  # the kind's n_jobs

    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "versions": {
                    "torch": torch.__version__.split("+")[0],
                    "xgboost": xgboost.__version__,
                    "lightgbm": lightgbm.__version__,
                },
                "rows": args.rows,
                "holdout": args.holdout,
                "epochs": args.epochs,
                "repeats": args.repeats,
                "yardstick": {
                    "what": f"PyTorch CPU, 1 thread, MLP {WIDTH}-{HIDDEN}-{HIDDEN}-1, batch {BATCH}, Adam",
                    "threads": 1,
                    "samplesPerSec": statistics.median(yard),
                    "runs": [round(v) for v in yard],
                },
                "kinds": kinds,
            }
        )
    )


def logging_off() -> None:
    import logging

    logging.getLogger("retrain_trainer").setLevel(logging.WARNING)


if __name__ == "__main__":
    main()
