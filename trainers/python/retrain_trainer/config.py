"""The worker's environment, parsed once at start-up; a bad value stops it with a message naming the variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

LogLevel = Literal["debug", "info", "warning", "error"]
_LOG_LEVELS: dict[str, LogLevel] = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "fatal": "error",
}


class ConfigError(ValueError):
    """An environment variable holds a value the worker cannot use; the message names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class S3Settings:
    region: str
    endpoint: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Config:
    temporal_address: str
    temporal_namespace: str
    store: str
    s3: S3Settings
    task_queue: str
    log_level: LogLevel
    metrics_host: str
    metrics_port: int
    """0 turns the Prometheus endpoint off."""
    slots: int
    """Trainings this worker runs at once."""
    user_trainers: tuple[str, ...]
    """Module names or file paths whose @trainer functions register at start-up."""
    build_id: str | None = None
    """RETRAIN_BUILD_ID, the build the TypeScript workers of this stack run: logged, never a versioning
    option. The worker is unversioned, so Pinned runs of every build reach it (docs/upgrades.md)."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if text == "":
        return default
    if not text.isdigit() or int(text) > 65535:
        raise ConfigError(name, f"must be a port number 0..65535, got {text!r}")
    return int(text)


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if text == "":
        return default
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        raise ConfigError(name, f"must be an integer 1..1024, got {text!r}")
    return int(text)


def _store(env: Mapping[str, str]) -> str:
    uri = env.get("RETRAIN_STORE", "").strip() or "file://.data/store"
    if uri.startswith("file://") and len(uri) > len("file://"):
        return uri
    if uri.startswith("s3://") and uri[len("s3://") :].strip("/") != "":
        return uri
    raise ConfigError("RETRAIN_STORE", f"expected file://<dir> or s3://<bucket>[/prefix], got {uri!r}")


def _address(env: Mapping[str, str]) -> str:
    address = env.get("TEMPORAL_ADDRESS", "").strip() or "127.0.0.1:7233"
    host, _, port = address.rpartition(":")
    if host == "" or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ConfigError("TEMPORAL_ADDRESS", f"expected host:port, got {address!r}")
    return address


def _s3(env: Mapping[str, str]) -> S3Settings:
    key_id = env.get("AWS_ACCESS_KEY_ID") or None
    secret = env.get("AWS_SECRET_ACCESS_KEY") or None
    if (key_id is None) != (secret is None):
        missing = "AWS_SECRET_ACCESS_KEY" if secret is None else "AWS_ACCESS_KEY_ID"
        raise ConfigError(missing, "give both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither")
    endpoint = env.get("S3_ENDPOINT") or None
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ConfigError("S3_ENDPOINT", f"expected an http(s) URL, got {endpoint!r}")
    return S3Settings(
        region=env.get("AWS_REGION") or "us-east-1",
        endpoint=endpoint,
        access_key_id=key_id,
        secret_access_key=secret,
    )


def _log_level(env: Mapping[str, str]) -> LogLevel:
    name = "RETRAIN_LOG_LEVEL" if env.get("RETRAIN_LOG_LEVEL") else "LOG_LEVEL"
    text = (env.get(name) or "info").strip().lower()
    if text not in _LOG_LEVELS:
        raise ConfigError(name, f"must be one of {', '.join(_LOG_LEVELS)}, got {text!r}")
    return _LOG_LEVELS[text]


def _task_queue(env: Mapping[str, str]) -> str:
    queue = env.get("RETRAIN_PY_TASK_QUEUE", "").strip() or "retrain-py"
    if len(queue) > 200 or any(c.isspace() for c in queue):
        raise ConfigError("RETRAIN_PY_TASK_QUEUE", f"must be 1..200 characters without spaces, got {queue!r}")
    return queue


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Reads every variable the worker uses, once; raises ConfigError naming the first bad one."""
    env = os.environ if env is None else env
    return Config(
        temporal_address=_address(env),
        temporal_namespace=env.get("TEMPORAL_NAMESPACE", "").strip() or "default",
        store=_store(env),
        s3=_s3(env),
        task_queue=_task_queue(env),
        log_level=_log_level(env),
        metrics_host=env.get("METRICS_HOST", "").strip() or "127.0.0.1",
        metrics_port=_port(env, "RETRAIN_PY_METRICS_PORT", 9467),
        slots=_positive(env, "RETRAIN_PY_SLOTS", 1),
        user_trainers=tuple(part.strip() for part in env.get("RETRAIN_PY_TRAINERS", "").split(",") if part.strip()),
        build_id=env.get("RETRAIN_BUILD_ID", "").strip() or None,
    )
