"""`python -m retrain_trainer`: the worker, configured from the environment."""

from __future__ import annotations

import asyncio
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


if __name__ == "__main__":
    sys.exit(main())
