"""One trainModel as the Python worker runs it, without Temporal: bench/quality.ts's python trainer.

`train_frame.py <store dir> <input JSON>` reads the feature frame the export stage wrote under the
input's datasetKey in the file store at <store dir> (the Node side's FileBlobStore root), trains the
kind through retrain_trainer.training.run_training (the activity's body: the same frame, params,
checkpoints, ONNX candidate and result), and prints the result as one JSON line. Heartbeats are
dropped and nothing asks it to stop.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "trainers" / "python"))


class _Quiet:
    def heartbeat(self, details: dict[str, Any]) -> None:
        pass

    def stop_reason(self) -> str | None:
        return None


def main() -> None:
    from retrain_trainer.store import FileBlobStore
    from retrain_trainer.training import run_training

    logging.getLogger("retrain_trainer").setLevel(logging.WARNING)
    store_dir, raw = sys.argv[1], json.loads(sys.argv[2])
    result = run_training(raw, FileBlobStore(store_dir), _Quiet())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
