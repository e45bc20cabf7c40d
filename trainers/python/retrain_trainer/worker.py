"""The Python trainer worker: polls RETRAIN_PY_TASK_QUEUE for trainModel until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from .activity import TrainerActivities
from .config import Config
from .logs import setup_logging
from .metrics import serve_metrics
from .store import BlobStore, open_store
from .suggest import suggest_trial
from .user import load_user_trainers

log = logging.getLogger("retrain_trainer.worker")

GRACEFUL_SHUTDOWN = timedelta(seconds=30)
"""How long running trainings get, once shutdown starts, to checkpoint and end with TrainingInterrupted."""


def _threads_per_slot(slots: int) -> int:
    """Native threads one training may use: the cores shared among the slots."""
    return max(1, (os.cpu_count() or 1) // slots)


def build_worker(client: Client, task_queue: str, store: BlobStore, slots: int = 1) -> Worker:
    """A worker serving trainModel (and suggestTrial, a few milliseconds of Optuna) in a pool of `slots` threads,
    sending heartbeats at least every second."""
    return Worker(
        client,
        task_queue=task_queue,
        activities=[TrainerActivities(store, threads=_threads_per_slot(slots)).train_model, suggest_trial],
        activity_executor=ThreadPoolExecutor(max_workers=slots, thread_name_prefix="train"),
        max_concurrent_activities=slots,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        # Cancels arrive with heartbeat responses: throttled to 1 s, a cancel stops within seconds.
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        default_heartbeat_throttle_interval=timedelta(seconds=1),
    )


async def run_worker(config: Config) -> None:
    """Runs until SIGTERM or SIGINT; then running trainings checkpoint and end as TrainingInterrupted."""
    setup_logging(config.log_level)
    trainers = load_user_trainers(config.user_trainers)
    serve_metrics(config.metrics_host, config.metrics_port)
    store = open_store(config.store, config.s3)
    client = await Client.connect(config.temporal_address, namespace=config.temporal_namespace)
    worker = build_worker(client, config.task_queue, store, config.slots)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "python trainer worker polling",
        extra={
            "taskQueue": config.task_queue,
            "namespace": config.temporal_namespace,
            "store": store.uri,
            "metricsPort": config.metrics_port,
            "userTrainers": trainers,
            "buildId": config.build_id,
        },
    )
    running = asyncio.create_task(worker.run())
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if running in done:
        stopped.cancel()
        running.result()
        return
    log.info("shutting down: running trainings checkpoint and end as TrainingInterrupted")
    await worker.shutdown()
    await running
    log.info("worker stopped")
