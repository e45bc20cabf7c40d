"""JSON logs: one object a line on stderr, ids as fields (never in the message), secrets never written."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SECRET_WORDS = ("secret", "password", "token", "credential", "accesskey", "access_key")
_LEVELS = {"DEBUG": 20, "INFO": 30, "WARNING": 40, "ERROR": 50, "CRITICAL": 60}
"""pino's numbers, so the Node and Python logs sort and filter alike."""

logger = logging.getLogger("retrain_trainer")


def _redacted(name: str, value: Any) -> Any:
    lowered = name.lower()
    return "[redacted]" if any(word in lowered for word in _SECRET_WORDS) else value


class JsonFormatter(logging.Formatter):
    """pino-shaped lines: level, time (ms), name, msg, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": _LEVELS.get(record.levelname, 30),
            "time": int(record.created * 1000),
            "name": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = _redacted(key, value)
        if record.exc_info:
            line["err"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(level: str = "info") -> None:
    """Routes every logger (the SDK's too) to stderr as JSON lines at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.Formatter.converter = time.gmtime
