"""gpu-check, the Python half: PyTorch and XGBoost, each on the GPU and on the CPU, timed.

Run by scripts/gpu-check.sh with .tools/py/bin/python (or the interpreter GPU_CHECK_PYTHON names).
Writes the MLP's synthetic data for the TensorFlow.js half (--data) and one JSON row per framework and
device (--out). A GPU row's `on_gpu` is what the framework itself reports after training — the model's
parameter device for PyTorch, the booster's saved config for XGBoost — never what was asked for.
Each framework is imported on its own: one that is missing or broken is a row with an `error`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

SEED = 20260101
FEATURES = 18


def make_data(n: int, seed: int) -> tuple[Any, Any]:
    """x [n, 18] float32 ~ N(0, 1) and a smooth nonlinear target, the same for every framework."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, FEATURES), dtype=np.float32)
    w = rng.standard_normal(FEATURES).astype(np.float32) / np.sqrt(FEATURES)
    y = np.sin(x @ w) + 0.5 * x[:, 0] * x[:, 1] - 0.25 * np.abs(x[:, 2])
    y = (y + 0.05 * rng.standard_normal(n)).astype(np.float32)
    return x, y


def write_data(path: Path, x: Any, y: Any) -> None:
    """Little-endian float32: the n*18 features row-major, then the n targets (n = bytes / 76)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(x.astype("<f4").tobytes())
        f.write(y.astype("<f4").tobytes())


def row(framework: str, asked: str, **fields: Any) -> dict[str, Any]:
    return {"framework": framework, "asked": asked, "on_gpu": None, "rate": None, "error": None, **fields}


def warning_text(caught: list[warnings.WarningMessage]) -> str:
    """The warnings' first lines, once each, without XGBoost's '[hh:mm:ss] WARNING: file.cc:53: ' prefix."""
    lines = (str(w.message).strip().splitlines()[0] for w in caught if str(w.message).strip())
    plain = (re.sub(r"^\[[\d:]+\]\s*WARNING:\s*\S+:\d+:\s*", "", line)[:240] for line in lines)
    return "; ".join(dict.fromkeys(plain))


# --------------------------------------------------------------------------------------------- torch


def torch_rows(x_np: Any, y_np: Any, seconds: float, batch: int, threads: int) -> list[dict[str, Any]]:
    try:
        import torch
    except Exception as err:
        reason = f"not installed: {type(err).__name__}: {err}"
        return [row("torch", a, version=None, error=reason) for a in ("cuda", "cpu")]
    version = f"{torch.__version__} (built for CUDA {torch.version.cuda})"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        visible = torch.cuda.is_available()
        count = torch.cuda.device_count() if visible else 0
    rows: list[dict[str, Any]] = []
    if visible:
        rows.append(torch_train(torch, "cuda", x_np, y_np, seconds, batch, version))
    else:
        why = warning_text(caught) or "no CUDA device visible"
        rows.append(
            row(
                "torch",
                "cuda",
                version=version,
                used="none",
                on_gpu=False,
                error="cannot see the GPU",
                note=f"torch.cuda.is_available() is False: {why}",
                devices=count,
            )
        )
    torch.set_num_threads(threads)  # after the GPU run: its host side keeps the default
    rows.append(torch_train(torch, "cpu", x_np, y_np, seconds, batch, version))
    return rows


def torch_train(
    torch: Any, device: str, x_np: Any, y_np: Any, seconds: float, batch: int, version: str
) -> dict[str, Any]:
    try:
        torch.manual_seed(SEED)
        dev = torch.device(device)
        model = torch.nn.Sequential(
            torch.nn.Linear(FEATURES, 32),
            torch.nn.ReLU(),
            torch.nn.Linear(32, 32),
            torch.nn.ReLU(),
            torch.nn.Linear(32, 1),
        ).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.from_numpy(x_np).to(dev)
        y = torch.from_numpy(y_np).reshape(-1, 1).to(dev)
        n = x.shape[0]
        gen = torch.Generator(device=dev)
        gen.manual_seed(SEED)
        loss_fn = torch.nn.MSELoss()

        def sync() -> None:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)

        perm, pos = torch.randperm(n, device=dev, generator=gen), 0

        def steps(count: int) -> Any:
            """`count` Adam steps over shuffled batches (a fresh permutation each epoch)."""
            nonlocal perm, pos
            loss = None
            for _ in range(count):
                if pos + batch > n:
                    perm, pos = torch.randperm(n, device=dev, generator=gen), 0
                idx = perm[pos : pos + batch]
                pos += batch
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
            return loss

        steps(32)  # warm-up: CUDA context, cuBLAS handles, kernels
        sync()
        done, started = 0, time.perf_counter()
        while True:  # timed in chunks of 32 steps, synchronised before each clock reading
            loss = steps(32)
            done += 32
            sync()
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
        param = next(model.parameters())
        used = str(param.device)  # what torch says the trained weights live on
        if param.device.type == "cuda":
            used += f" ({torch.cuda.get_device_name(param.device)})"
        else:
            threads = torch.get_num_threads()
            used += f", {threads} thread{'s' if threads > 1 else ''}"
        return row(
            "torch",
            device,
            version=version,
            used=used,
            on_gpu=param.device.type == "cuda",
            rate=done * batch / elapsed,
            unit="samples/s",
            seconds=elapsed,
            work=f"{done} Adam steps of {batch} ({n} samples)",
            loss=float(loss.item()),
        )
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
        return row("torch", device, version=version, error=error, trace=traceback.format_exc(limit=3))


# ------------------------------------------------------------------------------------------- xgboost


def xgboost_rows(rows_n: int, rounds: int) -> list[dict[str, Any]]:
    try:
        import xgboost
    except Exception as err:
        reason = f"not installed: {type(err).__name__}: {err}"
        return [row("xgboost", a, version=None, error=reason) for a in ("cuda", "cpu")]
    info = xgboost.build_info()
    cuda = info.get("CUDA_VERSION")
    built = f"built with CUDA {'.'.join(map(str, cuda))}" if info.get("USE_CUDA") and cuda else "built without CUDA"
    version = f"{xgboost.__version__} ({built})"
    x, y = make_data(rows_n, SEED + 1)
    dtrain = xgboost.DMatrix(x, label=y)
    return [xgboost_train(xgboost, d, dtrain, rows_n, rounds, version) for d in ("cuda", "cpu")]


def xgboost_train(xgboost: Any, device: str, dtrain: Any, rows_n: int, rounds: int, version: str) -> dict[str, Any]:
    params = {
        "device": device,
        "tree_method": "hist",
        "max_depth": 6,
        "eta": 0.1,
        "objective": "reg:squarederror",
        "seed": SEED,
    }
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            xgboost.train(params, dtrain, 2)  # warm-up: CUDA context, the data's copy and quantiles
            started = time.perf_counter()
            booster = xgboost.train(params, dtrain, rounds)
            elapsed = time.perf_counter() - started
        config = json.loads(booster.save_config())
        used = str(config["learner"]["generic_param"].get("device", "?"))  # what XGBoost trained on
        threads = int(config["learner"]["generic_param"].get("nthread", "0")) or os.cpu_count()
        on_gpu = used.startswith("cuda") or used.startswith("gpu")
        note = warning_text(caught)
        return row(
            "xgboost",
            device,
            version=version,
            used=f"{used} (booster config)" + ("" if on_gpu else f", {threads} thread{'s' if threads != 1 else ''}"),
            note=note or None,
            on_gpu=on_gpu,
            rate=rows_n * rounds / elapsed,
            unit="rows x rounds/s",
            seconds=elapsed,
            work=f"{rounds} rounds x {rows_n} rows, hist, depth 6",
            error=None if on_gpu or device == "cpu" else "fell back to the CPU",
        )
    except Exception as err:
        return row(
            "xgboost",
            device,
            version=version,
            error=f"{type(err).__name__}: {err}",
            trace=traceback.format_exc(limit=3),
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="where to write the MLP data for the tfjs half")
    p.add_argument("--samples", type=int, default=65536)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seconds", type=float, default=3.0, help="least timed seconds per MLP run (whole epochs)")
    p.add_argument(
        "--torch-threads", type=int, default=1, help="CPU threads of the torch CPU run (bench/train's yardstick: 1)"
    )
    p.add_argument("--xgb-rows", type=int, default=200_000)
    p.add_argument("--xgb-rounds", type=int, default=50)
    p.add_argument("--only", choices=["torch", "xgboost"], default=None)
    a = p.parse_args()
    try:
        x, y = make_data(a.samples, SEED)
    except Exception as err:  # no numpy: nothing here can run
        print(f"[gpu-check] numpy is missing ({err}); no Python framework can run", file=sys.stderr)
        a.out.write_text(
            json.dumps(
                [row(f, d, error=f"numpy missing: {err}") for f in ("torch", "xgboost") for d in ("cuda", "cpu")]
            )
        )
        return 0
    write_data(a.data, x, y)
    rows: list[dict[str, Any]] = []
    if a.only in (None, "torch"):
        print(f"[gpu-check] torch: MLP 18-32-32-1, {a.samples} samples, batch {a.batch}, Adam", file=sys.stderr)
        rows += torch_rows(x, y, a.seconds, a.batch, a.torch_threads)
    if a.only in (None, "xgboost"):
        print(f"[gpu-check] xgboost: {a.xgb_rows} rows x {a.xgb_rounds} rounds", file=sys.stderr)
        rows += xgboost_rows(a.xgb_rows, a.xgb_rounds)
    for r in rows:
        r["python"] = platform.python_version()
    a.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
