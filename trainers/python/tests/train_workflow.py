"""A workflow that calls trainModel the way retrainWorkflow does: by name, on the trainer's queue, heartbeating."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType


@workflow.defn(name="pyTrainTestWorkflow")
class TrainWorkflow:
    @workflow.run
    async def run(self, inp: dict[str, Any], queue: str, heartbeat_s: float) -> dict[str, Any]:
        result: dict[str, Any] = await workflow.execute_activity(
            "trainModel",
            inp,
            task_queue=queue,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=heartbeat_s),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return result
