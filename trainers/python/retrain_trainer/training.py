"""One trainModel attempt, independent of Temporal: input, frame, resume, the kind's training, the candidate."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from .contract import TrainInput, parse_input
from .errors import corrupt_artefact, invalid_input
from .frame import Frame, load_frame
from .holdout_score import holdout_score
from .kinds import find_kind
from .kinds.base import Checkpoint, Control, Kind, Session, Trained
from .onnx_tools import contract_output
from .params import validate_params
from .store import BlobStore
from .user import UserKind

log = logging.getLogger("retrain_trainer.training")


def fingerprint_of(inp: TrainInput, params: dict[str, Any], frame: Frame) -> str:
    """What a checkpoint must match to be resumed from: the same kind, params, dataset, epochs and task."""
    described = {
        "kind": inp.architecture,
        "params": params,
        "seed": inp.seed,
        "task": inp.task,
        "dataset": inp.dataset_key,
        "frame": frame.digest,
        "epochs": inp.epochs,
        "incremental": inp.incremental,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def load_resume(store: BlobStore, last_heartbeat: Any, fingerprint: str, ids: dict[str, str]) -> Checkpoint | None:
    """The checkpoint the last heartbeat names, when it belongs to this training; None to start afresh."""
    ref = last_heartbeat.get("checkpoint") if isinstance(last_heartbeat, dict) else None
    if not isinstance(ref, dict) or not isinstance(ref.get("key"), str):
        return None
    key = ref["key"]
    body = store.get(f"{key}/state.json")
    if body is None:
        log.warning(
            "checkpoint named by the last heartbeat is missing; training from the start",
            extra={**ids, "checkpoint": key},
        )
        return None
    try:
        meta = json.loads(body)
        if meta.get("fingerprint") != fingerprint:
            log.warning(
                "checkpoint belongs to other inputs; training from the start",
                extra={**ids, "checkpoint": key},
            )
            return None
        files = {}
        for name in meta["files"]:
            blob = store.get(f"{key}/{name}")
            if blob is None:
                raise ValueError(f"{name} is missing")
            files[name] = blob
        state = {"stats": meta.get("stats", {}), **meta.get("state", {})}
        return Checkpoint(key=key, epoch=int(meta["epoch"]), files=files, state=state)
    except (ValueError, KeyError, TypeError) as err:
        raise corrupt_artefact(f"checkpoint {store.uri_for(key)} cannot be read: {err}") from err


def _params(kind: Kind, inp: TrainInput) -> dict[str, Any]:
    if isinstance(kind, UserKind) and kind.user.params is None:
        return dict(inp.params)
    return validate_params(kind.name, kind.params, inp.params)


def _check_frame(inp: TrainInput, frame: Frame) -> None:
    groups = {"classify": "classify", "cluster": "cluster"}
    if groups.get(frame.task, "regression") != groups.get(inp.task, "regression"):
        raise invalid_input(f"task {inp.task} cannot train on a {frame.task} frame", task=inp.task)


def prepare(raw: Any) -> tuple[TrainInput, Kind, dict[str, Any]]:
    """Parses and validates everything that needs no store: input, kind, task and params."""
    inp = parse_input(raw)
    kind = find_kind(inp.architecture)
    kind.check_task(inp.task)
    return inp, kind, _params(kind, inp)


def _onnx_check(trained: Trained, frame: Frame) -> dict[str, Any]:
    """The ONNX graph's answers against the native model's on up to 256 rows (holdout first)."""
    import onnxruntime as ort

    rows = frame.holdout.x if len(frame.holdout.x) else frame.train.x
    rows = rows[:256]
    runtime = ort.InferenceSession(trained.onnx.SerializeToString(), providers=["CPUExecutionProvider"])
    served = np.asarray(runtime.run(None, {"features": rows})[0])
    native = np.asarray(trained.predict(rows))
    diff = float(np.max(np.abs(served.astype(np.float64) - native.astype(np.float64)))) if len(rows) else 0.0
    return {"rows": len(rows), "maxAbsDiff": diff}


def _holdout_outputs(trained: Trained, frame: Frame) -> npt.NDArray[np.float64]:
    """The native model's own outputs for every holdout row, in frame order, `[m, w]`."""
    rows = len(frame.holdout.x)
    return (
        np.asarray(trained.predict(frame.holdout.x), dtype=np.float64).reshape(rows, -1) if rows else np.zeros((0, 1))
    )


def _holdout_predictions(out: npt.NDArray[np.float64], task: str) -> dict[str, Any]:
    """holdout-predictions.json (docs/trainers.md "Result")."""
    return {"output": contract_output(task), "width": int(out.shape[1]), "values": out.ravel().tolist()}


def run_training(raw: Any, store: BlobStore, control: Control, last_heartbeat: Any = None) -> dict[str, Any]:
    """Trains to the end (or raises StopTraining, an ApplicationError, or a retryable error) and returns the result."""
    return train_candidate(raw, store, control, last_heartbeat)[0]


def train_candidate(
    raw: Any, store: BlobStore, control: Control, last_heartbeat: Any = None
) -> tuple[dict[str, Any], Trained]:
    """run_training, also handing back the trained model (its native answers, for tests and benchmarks)."""
    inp, kind, params = prepare(raw)
    ids = {"model": inp.model, "workflowId": inp.workflow_id, "kind": kind.name}
    frame = load_frame(store, inp.dataset_key)
    _check_frame(inp, frame)
    device = kind.device(inp.device in ("gpu", "cuda"))
    if inp.device in ("gpu", "cuda") and device != "cuda":
        log.warning("a GPU was asked for but none is visible (or the kind has none); training on the CPU", extra=ids)
    fingerprint = fingerprint_of(inp, params, frame)
    resume = load_resume(store, last_heartbeat, fingerprint, ids)
    session = Session(
        inp,
        frame,
        params,
        store,
        control,
        fingerprint,
        resume,
        kind.backend(device),
        device,
        kind.total_epochs(inp, params),
    )
    if resume is not None:
        log.info("resuming from checkpoint", extra={**ids, "checkpoint": resume.key, "epoch": resume.epoch})
    session.beat()
    trained = kind.train(session)
    # The kind may learn the device only once trained (XGBoost falls back by itself): report what it used.
    session.backend = kind.backend(session.device)
    check = _onnx_check(trained, frame)
    candidate_key = f"{inp.checkpoint_prefix}/final"
    onnx.checker.check_model(trained.onnx)
    store.put(f"{candidate_key}/model.onnx", trained.onnx.SerializeToString())
    for name, body in trained.native.items():
        store.put(f"{candidate_key}/native/{name}", body)
    store.put(f"{candidate_key}/preprocessing.json", json.dumps(frame.preprocessing).encode())
    outputs = _holdout_outputs(trained, frame)
    predictions = _holdout_predictions(outputs, inp.task)
    store.put(f"{candidate_key}/holdout-predictions.json", json.dumps(predictions).encode())
    candidate = {
        "format": "onnx",
        "kind": kind.name,
        "task": inp.task,
        "params": params,
        "backend": session.backend,
        "device": session.device,
        "classes": frame.classes,
        "featureColumns": frame.feature_columns,
        "onnxCheck": check,
    }
    store.put(f"{candidate_key}/candidate.json", json.dumps(candidate, indent=2, default=str).encode())
    stats = session.stats
    result: dict[str, Any] = {
        "candidateKey": candidate_key,
        "format": "onnx",
        "backend": session.backend,
        "device": session.device,
        "epochs": stats.epoch,
        "loss": stats.loss if stats.loss is not None else float("nan"),
        "valLoss": stats.val_loss,
        "bestValLoss": stats.best_val_loss,
        "bestEpoch": stats.best_epoch,
        "samplesPerSec": stats.samples_per_sec or 0.0,
        "warmStart": {"skipped": "incremental: false"}
        if not inp.incremental
        else {"skipped": f"{kind.name}: warm start from an ONNX production version is not supported"},
    }
    score = holdout_score(frame, outputs, inp.task, inp.gate_metric)
    if score is not None:
        result["holdoutScore"] = score
    if resume is not None:
        result["resumedFrom"] = resume.key
    if session.user_metrics:
        result["metrics"] = session.user_metrics
    log.info("training finished", extra={**ids, "candidateKey": candidate_key, "device": session.device})
    return result, trained
