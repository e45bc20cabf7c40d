"""What every kind implements, and the Session through which it reports progress and checkpoints."""

from __future__ import annotations

import json
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import onnx

from ..contract import TrainInput
from ..errors import invalid_input, training_diverged
from ..frame import Floats, Frame
from ..metrics import EPOCH, SAMPLES_PER_SECOND
from ..params import Param
from ..store import BlobStore

log = logging.getLogger("retrain_trainer.training")

Files = dict[str, bytes]
Snapshot = Callable[[], tuple[Files, dict[str, Any]]]
"""The model as it is now: blobs by file name and a JSON state, what a checkpoint holds."""


class StopTraining(Exception):
    """Raised from a progress report once Temporal asked the training to stop: `cancel` or `shutdown`."""

    def __init__(self, reason: str, checkpoint_key: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.checkpoint_key = checkpoint_key


class Control(Protocol):
    """The activity's side of a training: heartbeats out, stop requests in."""

    def heartbeat(self, details: dict[str, Any]) -> None: ...

    def stop_reason(self) -> str | None:
        """`cancel`, `shutdown` or None."""
        ...


@dataclass(frozen=True)
class Checkpoint:
    key: str
    epoch: int
    files: Files
    state: dict[str, Any]


@dataclass
class Trained:
    """A finished model: its ONNX graph (contract names) and the native model's answers for the same input."""

    onnx: onnx.ModelProto
    predict: Callable[[Floats], npt.NDArray[Any]]
    native: Files = field(default_factory=dict)
    """Native model files kept beside the candidate (a booster, say) for incremental training."""


@dataclass
class Stats:
    epoch: int = 0
    loss: float | None = None
    val_loss: float | None = None
    samples_per_sec: float | None = None
    best_val_loss: float | None = None
    best_epoch: int | None = None


class Session:
    """One attempt at one training: parsed input, frame, validated params, progress and checkpoints."""

    def __init__(
        self,
        inp: TrainInput,
        frame: Frame,
        params: dict[str, Any],
        store: BlobStore,
        control: Control,
        fingerprint: str,
        resume: Checkpoint | None,
        backend: str,
        device: str,
        total_epochs: int,
    ) -> None:
        self.input, self.frame, self.params = inp, frame, params
        self.total_epochs = total_epochs
        self.store, self.control, self.fingerprint = store, control, fingerprint
        self.resume = resume
        self.backend, self.device = backend, device
        self.stats = Stats(**(resume.state.get("stats", {}) if resume else {}))
        self.checkpoint_ref: dict[str, Any] | None = (
            {"epoch": resume.epoch, "batch": 0, "key": resume.key} if resume else None
        )
        self._batch, self._batches = 0, 0
        self._last_beat = 0.0
        self.user_metrics: dict[str, float] = {}
        """Figures a user trainer returned, passed on in the result's `metrics`."""

    @property
    def epochs(self) -> int:
        """Epochs, rounds or steps this training runs to (the input's epochs for neural and boosting kinds)."""
        return self.total_epochs

    @property
    def seed(self) -> int:
        return self.input.seed

    @property
    def start_epoch(self) -> int:
        return self.resume.epoch if self.resume else 0

    def wants_cuda(self) -> bool:
        return self.input.device in ("gpu", "cuda")

    def details(self) -> dict[str, Any]:
        """The heartbeat (common/heartbeat.ts TrainHeartbeatSchema)."""
        done = self.stats.epoch + (self._batch / self._batches if self._batches else 0.0)
        details: dict[str, Any] = {
            "epoch": self.stats.epoch,
            "totalEpochs": self.epochs,
            "batch": self._batch,
            "batches": self._batches,
            "pct": round(min(100.0, 100.0 * done / self.epochs), 2),
            "loss": _finite_or_none(self.stats.loss),
            "valLoss": _finite_or_none(self.stats.val_loss),
            "samplesPerSec": _finite_or_none(self.stats.samples_per_sec),
            "backend": self.backend,
            "checkpoint": self.checkpoint_ref,
        }
        if self.input.trial is not None:
            details["trial"] = self.input.trial
        return details

    def beat(self) -> None:
        self._last_beat = time.monotonic()
        self.control.heartbeat(self.details())

    def batch(self, batch: int, batches: int, snapshot: Snapshot | None = None) -> None:
        """Inside an epoch: a heartbeat at most every 0.2 s and a stop check every call."""
        self._batch, self._batches = batch, batches
        if time.monotonic() - self._last_beat >= 0.2:
            self.beat()
        self._maybe_stop(snapshot)

    def epoch_end(
        self,
        epoch: int,
        loss: float,
        val_loss: float | None,
        samples_per_sec: float | None,
        snapshot: Snapshot | None = None,
        checkpoint: bool = True,
    ) -> None:
        """After epoch (or round) `epoch` (1-based): figures, a checkpoint when asked, a heartbeat, a stop check."""
        for name, value in (("loss", loss), ("validation loss", val_loss)):
            if value is not None and not math.isfinite(value):
                raise training_diverged(f"the {name} became {value} at epoch {epoch}")
        s = self.stats
        s.epoch, s.loss, s.val_loss, s.samples_per_sec = epoch, loss, val_loss, samples_per_sec
        if val_loss is not None and (s.best_val_loss is None or val_loss < s.best_val_loss):
            s.best_val_loss, s.best_epoch = val_loss, epoch
        self._batch = self._batches = 0
        labels = {"model": self.input.model, "kind": self.input.architecture}
        EPOCH.labels(**labels).set(epoch)
        if samples_per_sec is not None:
            SAMPLES_PER_SECOND.labels(**labels).set(samples_per_sec)
        if checkpoint and snapshot is not None:
            self.save_checkpoint(epoch, snapshot)
        self.beat()
        self._maybe_stop(snapshot)

    def save_checkpoint(self, epoch: int, snapshot: Snapshot) -> str:
        """Writes `<prefix>/epoch-<n>/`: the kind's files, then state.json (last, so its presence means complete)."""
        key = f"{self.input.checkpoint_prefix}/epoch-{epoch}"
        files, state = snapshot()
        for name, body in files.items():
            self.store.put(f"{key}/{name}", body)
        meta = {
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "files": sorted(files),
            "state": state,
            "stats": vars(self.stats),
            "backend": self.backend,
        }
        self.store.put(f"{key}/state.json", json.dumps(meta).encode())
        self.checkpoint_ref = {"epoch": epoch, "batch": 0, "key": key}
        log.info("checkpoint saved", extra={"workflowId": self.input.workflow_id, "checkpoint": key})
        return key

    def _maybe_stop(self, snapshot: Snapshot | None) -> None:
        reason = self.control.stop_reason()
        if reason is None:
            return
        saved = self.checkpoint_ref["epoch"] if self.checkpoint_ref else -1
        if snapshot is not None and self.stats.epoch > saved:
            try:
                self.save_checkpoint(self.stats.epoch, snapshot)
                self.beat()
            except Exception:
                # A failed save must not turn a stop into a failure: the last checkpoint stays.
                log.warning("checkpoint on stop failed", exc_info=True, extra={"workflowId": self.input.workflow_id})
        raise StopTraining(reason, self.checkpoint_ref["key"] if self.checkpoint_ref else None)


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class Kind(ABC):
    """A model kind (hyperparams.architecture): its tasks, its parameters and how it trains."""

    name: str
    tasks: tuple[str, ...]
    params: dict[str, Param]

    def check_task(self, task: str) -> None:
        if task not in self.tasks:
            raise invalid_input(
                f"{self.name} cannot do task {task}; it does {', '.join(self.tasks)}",
                kind=self.name,
                task=task,
            )

    @abstractmethod
    def backend(self, session_device: str) -> str:
        """The backend string of heartbeats and the result, e.g. `xgboost 3.2.0 cpu`."""

    def total_epochs(self, inp: TrainInput, params: dict[str, Any]) -> int:
        """Epochs the heartbeats count to: the input's, unless the kind steps otherwise."""
        return inp.epochs

    def device(self, wants_cuda: bool) -> str:
        """The device this kind will train on: `cuda` only when asked and visible."""
        return "cpu"

    @abstractmethod
    def train(self, session: Session) -> Trained:
        """Trains from `session.resume` (or scratch) to `session.epochs`, reporting through the session."""


def regression_loss(pred: npt.NDArray[Any], y: npt.NDArray[Any] | None) -> float | None:
    if y is None or len(y) == 0:
        return None
    return float(np.mean((np.asarray(pred, np.float64).reshape(-1) - y) ** 2))


def log_loss(probs: npt.NDArray[Any], y: npt.NDArray[Any] | None) -> float | None:
    if y is None or len(y) == 0:
        return None
    p = np.clip(np.asarray(probs, np.float64)[np.arange(len(y)), y.astype(np.int64)], 1e-15, 1.0)
    return float(-np.mean(np.log(p)))


def task_loss(task: str, answers: npt.NDArray[Any], y: npt.NDArray[Any] | None) -> float | None:
    """MSE in the target's units for forecast and regress, log loss for classify."""
    return log_loss(answers, y) if task == "classify" else regression_loss(answers, y)


def check_classes(session: Session) -> int:
    """The number of classes; every class must occur in the train split (the converters size outputs by it)."""
    frame = session.frame
    k = len(frame.classes or [])
    assert frame.train.y is not None
    seen = set(np.unique(frame.train.y).astype(int).tolist())
    if seen != set(range(k)):
        raise invalid_input(
            f"the train split has classes {sorted(seen)} of {k}; every class needs train rows",
            kind=session.input.architecture,
        )
    return k
