"""The real trainModel activity on a real worker, through a Temporal dev server (.tools/bin/temporal)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ActivityError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from retrain_trainer.store import FileBlobStore
from retrain_trainer.worker import build_worker

from .helpers import TEMPORAL_BIN, train_input, write_frame
from .train_workflow import TrainWorkflow

pytestmark = pytest.mark.skipif(
    not TEMPORAL_BIN.exists(),
    reason=f"no Temporal dev server at {TEMPORAL_BIN} (node scripts/setup.js temporal)",
)
T = TypeVar("T")


async def eventually(what: str, probe: Callable[[], Awaitable[T | None]], timeout: float = 60.0) -> T:
    """The probe's first truthy answer; fails naming `what` when none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = await probe()
        if answer:
            return answer
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def last_heartbeat(handle: WorkflowHandle[Any, Any]) -> dict[str, Any] | None:
    pending = (await handle.describe()).raw_description.pending_activities
    if not pending or not pending[0].heartbeat_details.payloads:
        return None
    details: dict[str, Any] = json.loads(pending[0].heartbeat_details.payloads[0].data)
    return details


async def with_env(body: Callable[[WorkflowEnvironment, str], Awaitable[None]]) -> None:
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=str(TEMPORAL_BIN)) as env:
        queue = f"retrain-test-{uuid.uuid4().hex[:8]}"
        async with Worker(env.client, task_queue=queue, workflows=[TrainWorkflow]):
            await body(env, queue)


def slow_mlp(store: FileBlobStore, epochs: int) -> dict[str, Any]:
    key = write_frame(store, "regress", rows=1500, holdout=100)
    return train_input(key, "regress", "mlp", params={"hidden": [32, 32], "batch_size": 8}, epochs=epochs)


def test_train_model_runs_on_a_worker_heartbeating_and_returns_the_result(store) -> None:
    async def body(env: WorkflowEnvironment, queue: str) -> None:
        inp = slow_mlp(store, epochs=4)
        py_queue = f"{queue}-py"
        async with build_worker(env.client, py_queue, store):
            handle = await env.client.start_workflow(
                TrainWorkflow.run, args=[inp, py_queue, 10.0], id=f"wf-{uuid.uuid4()}", task_queue=queue
            )
            beat = await eventually("a heartbeat with an epoch", lambda: last_heartbeat(handle))
            assert beat["totalEpochs"] == 4 and beat["backend"].startswith("torch ")
            assert set(beat) >= {
                "epoch",
                "batch",
                "batches",
                "pct",
                "loss",
                "valLoss",
                "samplesPerSec",
                "checkpoint",
            }
            result = await handle.result()
        assert result["epochs"] == 4 and result["format"] == "onnx" and result["device"] == "cpu"
        assert "resumedFrom" not in result
        assert result["holdoutScore"]["metric"] == "mae" and result["holdoutScore"]["value"] > 0
        assert store.get(f"{result['candidateKey']}/model.onnx") is not None

    asyncio.run(with_env(body))


def test_a_cancel_stops_the_training_at_the_next_batch_and_registers_nothing(store) -> None:
    async def body(env: WorkflowEnvironment, queue: str) -> None:
        inp = slow_mlp(store, epochs=500)
        py_queue = f"{queue}-py"
        async with build_worker(env.client, py_queue, store):
            handle = await env.client.start_workflow(
                TrainWorkflow.run, args=[inp, py_queue, 10.0], id=f"wf-{uuid.uuid4()}", task_queue=queue
            )
            await eventually("a heartbeat", lambda: last_heartbeat(handle))
            await handle.cancel()
            with pytest.raises(WorkflowFailureError) as failed:
                await asyncio.wait_for(handle.result(), 60)
        assert isinstance(failed.value.cause, ActivityError | CancelledError)
        assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
        assert store.list(f"{inp['checkpointPrefix']}/final") == []

    asyncio.run(with_env(body))


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_worker_that_dies_mid_training_is_resumed_from_its_checkpoint_by_another(store, tmp_path, how) -> None:
    async def body(env: WorkflowEnvironment, queue: str) -> None:
        inp = slow_mlp(store, epochs=30)
        py_queue = f"{queue}-py"
        log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
        worker = subprocess.Popen(
            [sys.executable, "-m", "retrain_trainer"],
            env={
                **os.environ,
                "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                "RETRAIN_STORE": f"file://{store.root}",
                "RETRAIN_PY_TASK_QUEUE": py_queue,
                "RETRAIN_PY_METRICS_PORT": "0",
            },
            stderr=log,
            cwd=Path(__file__).resolve().parents[1],
        )
        try:
            handle = await env.client.start_workflow(
                TrainWorkflow.run, args=[inp, py_queue, 3.0], id=f"wf-{uuid.uuid4()}", task_queue=queue
            )

            async def checkpointed() -> dict[str, Any] | None:
                beat = await last_heartbeat(handle)
                return beat if beat and beat["checkpoint"] and beat["checkpoint"]["epoch"] >= 2 else None

            beat = await eventually("a checkpoint at epoch 2 in a heartbeat", checkpointed, timeout=120)
            worker.send_signal(signal.SIGKILL if how == "SIGKILL" else signal.SIGTERM)
            assert worker.wait(60) is not None
        finally:
            if worker.poll() is None:
                worker.kill()
            log.close()
        lines = [
            json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines() if line.startswith("{")
        ]
        if how == "SIGTERM":
            assert any(line.get("reason") == "shutdown" for line in lines), lines[-5:]
        async with build_worker(env.client, py_queue, store):
            result = await asyncio.wait_for(handle.result(), 240)
        assert result["resumedFrom"].startswith(f"{inp['checkpointPrefix']}/epoch-")
        assert int(result["resumedFrom"].rsplit("-", 1)[1]) >= beat["checkpoint"]["epoch"]
        assert result["epochs"] == 30

    asyncio.run(with_env(body))
