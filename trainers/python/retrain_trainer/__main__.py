"""`python -m retrain_trainer`: the worker, configured from the environment."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from .config import ConfigError, load_config
from .worker import run_worker


def main() -> int:
    try:
        config = load_config()
    except ConfigError as err:
        print(f"retrain_trainer: invalid configuration: {err}", file=sys.stderr)
        return 2
    asyncio.run(run_worker(config))
    return 0


def _exit(code: int) -> None:
    """Ends the process without interpreter finalization, once the worker has stopped and logs are out.

    The Temporal SDK's Rust threads outlive the worker and may call back into Python (log forwarding)
    while the interpreter finalizes, which aborts the process (SIGABRT, "PyGILState_Release") after a
    clean stop; nothing is left to finalize once the worker has drained, so exit at once.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
