"""The `trainModel` activity: a sync activity run in the worker's thread pool, heartbeating as it trains."""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError
from threadpoolctl import threadpool_limits

from .errors import training_interrupted
from .kinds.base import StopTraining
from .metrics import TRAININGS
from .store import BlobStore
from .training import run_training

log = logging.getLogger("retrain_trainer.activity")


class ActivityControl:
    """Heartbeats to Temporal; a stop is the worker shutting down (checked first) or a cancel."""

    def heartbeat(self, details: dict[str, Any]) -> None:
        activity.heartbeat(details)

    def stop_reason(self) -> str | None:
        if activity.is_worker_shutdown():
            return "shutdown"
        if activity.is_cancelled():
            return "cancel"
        return None


class TrainerActivities:
    """Activities over one blob store (the process's RETRAIN_STORE).

    `threads` caps the native thread pools (OpenMP, BLAS) of one training: with several slots on a
    small machine, uncapped pools oversubscribe the cores and a k-means fit ran 200 times slower.
    """

    def __init__(self, store: BlobStore, threads: int | None = None) -> None:
        self.store = store
        self.threads = threads

    @activity.defn(name="trainModel")
    def train_model(self, input: dict[str, Any]) -> dict[str, Any]:
        info = activity.info()
        kind = str((input.get("hyperparams") or {}).get("architecture", "?")) if isinstance(input, dict) else "?"
        ids = {
            "workflowId": info.workflow_id,
            "activityId": info.activity_id,
            "attempt": info.attempt,
            "kind": kind,
        }
        last = info.heartbeat_details[0] if info.heartbeat_details else None
        log.info("training started", extra=ids)
        # Cancellation arrives through is_cancelled() at the next batch or round, not as an exception
        # thrown into native code mid-step, so a stop can checkpoint first.
        with activity.shield_thread_cancel_exception(), threadpool_limits(limits=self.threads):
            try:
                result = run_training(input, self.store, ActivityControl(), last)
            except StopTraining as stop:
                TRAININGS.labels(kind=kind, outcome=stop.reason).inc()
                log.info(
                    "training stopped",
                    extra={**ids, "reason": stop.reason, "checkpoint": stop.checkpoint_key},
                )
                if stop.reason == "shutdown":
                    raise training_interrupted(stop.checkpoint_key) from None
                raise CancelledError("training cancelled") from None
            except ApplicationError as err:
                TRAININGS.labels(kind=kind, outcome=err.type or "failed").inc()
                log.warning("training failed", extra={**ids, "type": err.type, "error": str(err)})
                raise
        TRAININGS.labels(kind=kind, outcome="completed").inc()
        return result
