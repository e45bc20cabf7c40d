"""Config from the environment, the file store's atomic writes and keys, and JSON logs without secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from retrain_trainer.config import ConfigError, load_config
from retrain_trainer.logs import JsonFormatter
from retrain_trainer.store import FileBlobStore, InvalidKeyError, open_store


def test_defaults_match_the_local_stack() -> None:
    config = load_config({})
    assert config.temporal_address == "127.0.0.1:7233" and config.temporal_namespace == "default"
    assert config.task_queue == "retrain-py" and config.metrics_port == 9467
    assert config.store == "file://.data/store" and config.log_level == "info"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TEMPORAL_ADDRESS": "nowhere"}, "TEMPORAL_ADDRESS"),
        ({"RETRAIN_STORE": "ftp://x"}, "RETRAIN_STORE"),
        ({"RETRAIN_PY_METRICS_PORT": "99999"}, "RETRAIN_PY_METRICS_PORT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"AWS_ACCESS_KEY_ID": "id-only"}, "AWS_SECRET_ACCESS_KEY"),
        ({"S3_ENDPOINT": "127.0.0.1:9000"}, "S3_ENDPOINT"),
        ({"RETRAIN_PY_TASK_QUEUE": "two words"}, "RETRAIN_PY_TASK_QUEUE"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(env, variable) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(env)
    assert raised.value.variable == variable and str(raised.value).startswith(variable)


def test_secrets_stay_out_of_the_config_repr() -> None:
    config = load_config({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "very-secret-value"})
    assert "very-secret-value" not in repr(config) and "AKIDEXAMPLE" not in repr(config)


def test_the_file_store_writes_whole_objects_and_lists_keys_as_the_node_side_does(tmp_path) -> None:
    store = open_store(f"file://{tmp_path}/store")
    assert isinstance(store, FileBlobStore)
    store.put("checkpoints/m/w/epoch-1/state.json", b"{}")
    store.put("checkpoints/m/w/epoch-1/state.json", b'{"epoch": 1}')
    store.put("checkpoints/m/w/epoch-2/model.ubj", b"\x00")
    assert store.get("checkpoints/m/w/epoch-1/state.json") == b'{"epoch": 1}'
    assert store.list("checkpoints/m/w/") == [
        "checkpoints/m/w/epoch-1/state.json",
        "checkpoints/m/w/epoch-2/model.ubj",
    ]
    assert store.list("checkpoints/m/w/epoch-2") == ["checkpoints/m/w/epoch-2/model.ubj"]
    assert [p.name for p in (tmp_path / "store/checkpoints/m/w/epoch-1").iterdir()] == ["state.json"]
    assert store.get("checkpoints/m/w/none") is None
    store.delete("checkpoints/m/w/epoch-2/model.ubj")
    assert store.get("checkpoints/m/w/epoch-2/model.ubj") is None
    assert store.uri_for("a/b") == f"file://{tmp_path}/store/a/b"
    for bad in ("/abs", "a/../b", "a/.retrain-lock", "a//b"):
        with pytest.raises(InvalidKeyError):
            store.put(bad, b"")


def test_s3_store_uris_keep_the_bucket_and_prefix() -> None:
    store = open_store("s3://models-bucket/team/retrain")
    assert store.uri == "s3://models-bucket/team/retrain"
    assert store.uri_for("models/m/spec.json") == "s3://models-bucket/team/retrain/models/m/spec.json"


def test_logs_are_json_lines_with_ids_as_fields_and_secrets_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("retrain_trainer.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.info("training started", extra={"workflowId": "retrain-m-1", "awsSecretAccessKey": "hunter2"})
    logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["msg"] == "training started" and line["workflowId"] == "retrain-m-1"
    assert line["level"] == 30 and line["awsSecretAccessKey"] == "[redacted]"
    assert "hunter2" not in stream.getvalue()


def test_the_worker_refuses_to_start_on_a_bad_value_naming_it() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "TEMPORAL_ADDRESS": "no-port-here"}
    done = subprocess.run([sys.executable, "-m", "retrain_trainer"], env=env, capture_output=True, timeout=120)
    assert done.returncode == 2
    assert b"TEMPORAL_ADDRESS" in done.stderr
