"""Checkpoint, then a new attempt resumes from the checkpoint its last heartbeat names; stops checkpoint first."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from retrain_trainer.frame import load_frame
from retrain_trainer.kinds.base import StopTraining
from retrain_trainer.training import train_candidate

from .helpers import FakeControl, Killed, train_input, write_frame

RESUMABLE: list[tuple[str, str, dict[str, Any], dict[str, Any], int]] = [
    ("xgboost", "regress", {"max_depth": 3, "checkpoint_every": 3}, {}, 12),
    (
        "lightgbm",
        "classify",
        {"num_leaves": 7, "min_child_samples": 5, "checkpoint_every": 3},
        {"classes": 3},
        12,
    ),
    ("random-forest", "regress", {"n_estimators": 40, "trees_per_step": 10, "max_depth": 4}, {}, 8),
    ("mlp", "regress", {"hidden": [16], "batch_size": 32}, {}, 6),
    ("lstm", "forecast", {"hidden_size": 8, "batch_size": 32}, {"lagged": True}, 5),
]


@pytest.mark.parametrize(("kind", "task", "params", "frame", "epochs"), RESUMABLE, ids=[c[0] for c in RESUMABLE])
def test_a_killed_training_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(
    store, kind, task, params, frame, epochs
) -> None:
    key = write_frame(store, task, **frame)
    inp = train_input(key, task, kind, params=params, epochs=epochs)
    first = FakeControl(kill_at=2)
    with pytest.raises(Killed) as killed:
        train_candidate(inp, store, first)
    last = first.heartbeats[-1]
    assert last["checkpoint"]["key"] == str(killed.value)
    saved_at = last["checkpoint"]["epoch"]
    assert 0 < saved_at < last["totalEpochs"]

    second = FakeControl()
    result, resumed = train_candidate(inp, store, second, last)

    assert result["resumedFrom"] == last["checkpoint"]["key"]
    assert second.heartbeats[0]["epoch"] == saved_at
    assert min(b["epoch"] for b in second.heartbeats) == saved_at
    assert result["epochs"] == second.heartbeats[-1]["totalEpochs"]
    rows = load_frame(store, key).holdout.x
    again = dict(inp, checkpointPrefix=inp["checkpointPrefix"] + "-whole")
    _, whole = train_candidate(again, store, FakeControl())
    np.testing.assert_allclose(resumed.predict(rows), whole.predict(rows), rtol=1e-4, atol=1e-4)


def test_a_checkpoint_of_other_inputs_is_ignored(store) -> None:
    key = write_frame(store, "regress")
    inp = train_input(key, "regress", "xgboost", params={"checkpoint_every": 2}, epochs=6)
    first = FakeControl(kill_at=2)
    with pytest.raises(Killed):
        train_candidate(inp, store, first)
    other = dict(inp, hyperparams={**inp["hyperparams"], "params": {"checkpoint_every": 2, "max_depth": 2}})
    control = FakeControl()
    result, _ = train_candidate(other, store, control, first.heartbeats[-1])
    assert "resumedFrom" not in result
    assert control.heartbeats[0]["epoch"] == 0


def test_a_single_shot_kind_checkpoints_at_the_end_and_a_retry_skips_the_fit(store) -> None:
    key = write_frame(store, "cluster")
    inp = train_input(key, "cluster", "kmeans", params={"n_clusters": 3})
    first = FakeControl(kill_at=1)
    with pytest.raises(Killed):
        train_candidate(inp, store, first)
    second = FakeControl()
    result, _ = train_candidate(inp, store, second, first.heartbeats[-1])
    assert result["resumedFrom"].endswith("/epoch-1")
    assert [b["epoch"] for b in second.heartbeats] == [1]


@pytest.mark.parametrize("reason", ["cancel", "shutdown"])
def test_a_stop_checkpoints_where_it_is_and_ends_the_training_early(store, reason) -> None:
    key = write_frame(store, "regress")
    inp = train_input(key, "regress", "xgboost", params={"checkpoint_every": 1000}, epochs=500)
    control = FakeControl(stop=reason, stop_after=4)
    with pytest.raises(StopTraining) as stopped:
        train_candidate(inp, store, control)
    assert stopped.value.reason == reason
    last = control.heartbeats[-1]
    assert last["epoch"] < 500 and last["checkpoint"]["epoch"] == last["epoch"]
    assert stopped.value.checkpoint_key == last["checkpoint"]["key"]
    state = json.loads(store.get(f"{last['checkpoint']['key']}/state.json") or b"")
    assert state["epoch"] == last["epoch"]
    assert store.list(inp["checkpointPrefix"] + "/final") == []


def test_a_neural_stop_mid_epoch_keeps_the_last_epoch_checkpoint(store) -> None:
    key = write_frame(store, "regress", rows=600)
    inp = train_input(key, "regress", "mlp", params={"batch_size": 8}, epochs=50)
    control = FakeControl(stop="cancel", stop_after=3)
    with pytest.raises(StopTraining):
        train_candidate(inp, store, control)
    assert control.heartbeats[-1]["epoch"] < 50
