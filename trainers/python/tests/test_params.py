"""Bad input is a non-retryable InvalidInput naming what is wrong, before any training starts."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from retrain_trainer.kinds import BUILTIN_KINDS
from retrain_trainer.training import prepare, train_candidate

from .helpers import FakeControl, train_input, write_frame


def invalid(inp: dict) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        prepare(inp)
    assert raised.value.type == "InvalidInput" and raised.value.non_retryable
    return raised.value


@pytest.mark.parametrize("kind", sorted(BUILTIN_KINDS))
def test_an_unknown_parameter_is_invalid_input_naming_it(kind) -> None:
    err = invalid(train_input("datasets/m/w", BUILTIN_KINDS[kind].tasks[0], kind, params={"max_dept": 3}))
    assert "max_dept" in str(err) and kind in str(err)


@pytest.mark.parametrize(
    ("kind", "params", "named"),
    [
        ("xgboost", {"max_depth": "6"}, "max_depth"),
        ("xgboost", {"learning_rate": True}, "learning_rate"),
        ("lightgbm", {"num_leaves": 1}, "num_leaves"),
        ("logistic", {"solver": "sgd"}, "solver"),
        ("random-forest", {"n_estimators": 2.5}, "n_estimators"),
        ("kmeans", {"n_clusters": 0}, "n_clusters"),
        ("mlp", {"hidden": [16, "32"]}, "hidden"),
        ("lstm", {"batch_size": None}, "batch_size"),
    ],
)
def test_a_mistyped_or_out_of_range_parameter_is_invalid_input_naming_it(kind, params, named) -> None:
    task = BUILTIN_KINDS[kind].tasks[0]
    assert named in str(invalid(train_input("datasets/m/w", task, kind, params=params)))


def test_an_unknown_kind_and_a_task_the_kind_cannot_do_are_invalid_input() -> None:
    assert "known: xgboost" in str(invalid(train_input("datasets/m/w", "regress", "prophet")))
    assert "cannot do task cluster" in str(invalid(train_input("datasets/m/w", "cluster", "xgboost")))
    assert "cannot do task regress" in str(invalid(train_input("datasets/m/w", "regress", "logistic")))


def test_a_missing_input_field_is_invalid_input_naming_it() -> None:
    inp = train_input("datasets/m/w", "regress", "xgboost")
    del inp["datasetKey"]
    assert "datasetKey" in str(invalid(inp))


def test_defaults_fill_in_what_params_leave_out() -> None:
    _, _, params = prepare(train_input("datasets/m/w", "regress", "xgboost", params={"max_depth": 2}))
    assert params["max_depth"] == 2 and params["learning_rate"] == 0.1
    _, _, floats = prepare(train_input("datasets/m/w", "regress", "xgboost", params={"learning_rate": 1}))
    assert floats["learning_rate"] == 1.0 and isinstance(floats["learning_rate"], float)


def test_a_missing_frame_is_a_corrupt_artefact(store) -> None:
    with pytest.raises(ApplicationError) as raised:
        train_candidate(train_input("datasets/m/none", "regress", "xgboost"), store, FakeControl())
    assert raised.value.type == "CorruptArtefact" and raised.value.non_retryable


def test_an_lstm_needs_every_feature_at_every_lag(store) -> None:
    key = write_frame(store, "forecast")  # plain column names, no lags
    with pytest.raises(ApplicationError) as raised:
        train_candidate(train_input(key, "forecast", "lstm"), store, FakeControl())
    assert raised.value.type == "InvalidInput" and "lagged" in str(raised.value)


def test_a_diverging_loss_is_training_diverged(store) -> None:
    key = write_frame(store, "regress")
    inp = train_input(key, "regress", "mlp", params={"learning_rate": 1e12, "batch_size": 16}, epochs=20)
    with pytest.raises(ApplicationError) as raised:
        train_candidate(inp, store, FakeControl())
    assert raised.value.type == "TrainingDiverged" and raised.value.non_retryable
