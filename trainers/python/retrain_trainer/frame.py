"""The feature frame the export stage writes (docs/trainers.md): read, checked, split into arrays."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq

from .errors import corrupt_artefact
from .store import BlobStore

TASKS = ("forecast", "classify", "regress", "cluster")
Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Split:
    x: Floats
    """[n, F] float32, columns in featureColumns order."""
    y: npt.NDArray[np.float64] | None
    """The target (class index for classify); None for cluster."""
    frame: pd.DataFrame
    """The split's rows as read (entity, time, target, features), for user trainers."""


@dataclass(frozen=True)
class Frame:
    task: str
    feature_columns: list[str]
    feature_names: list[str]
    classes: list[str] | None
    preprocessing: Any
    train: Split
    holdout: Split
    digest: str
    """sha256 of frame.json and frame.parquet: what a checkpoint's fingerprint names."""

    @property
    def width(self) -> int:
        return len(self.feature_columns)


def _split(df: pd.DataFrame, name: str, columns: list[str], has_target: bool) -> Split:
    part = df[df["__split"] == name].reset_index(drop=True)
    x = part[columns].to_numpy(dtype=np.float32, copy=True) if columns else np.zeros((len(part), 0), np.float32)
    y = part["__target"].to_numpy(dtype=np.float64, copy=True) if has_target else None
    return Split(x=x, y=y, frame=part)


def load_frame(store: BlobStore, dataset_key: str) -> Frame:
    """Reads `<datasetKey>/frame/`; a missing or malformed frame is CorruptArtefact naming the key."""
    meta_key, data_key = f"{dataset_key}/frame/frame.json", f"{dataset_key}/frame/frame.parquet"
    meta_bytes, data_bytes = store.get(meta_key), store.get(data_key)
    if meta_bytes is None or data_bytes is None:
        raise corrupt_artefact(
            f"feature frame {store.uri_for(meta_key if meta_bytes is None else data_key)} is missing"
        )
    try:
        meta = json.loads(meta_bytes)
        task = meta["task"]
        columns = [str(c) for c in meta["featureColumns"]]
        names = [str(n) for n in meta.get("featureNames") or columns]
        classes = meta.get("classes")
        if task not in TASKS or len(names) != len(columns):
            raise ValueError(f"task {task!r} or featureNames of another length than featureColumns")
    except (ValueError, KeyError, TypeError) as err:
        raise corrupt_artefact(f"{store.uri_for(meta_key)} is not a frame description: {err}") from err
    try:
        df = pq.read_table(io.BytesIO(data_bytes)).to_pandas()
    except Exception as err:
        raise corrupt_artefact(f"{store.uri_for(data_key)} is not Parquet: {err}") from err
    has_target = task != "cluster"
    required = ["__split", *columns, *(["__target"] if has_target else [])]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise corrupt_artefact(f"{store.uri_for(data_key)} lacks columns {', '.join(missing)}")
    digest = hashlib.sha256(meta_bytes + hashlib.sha256(data_bytes).digest()).hexdigest()
    train = _split(df, "train", columns, has_target)
    holdout = _split(df, "holdout", columns, has_target)
    if len(train.x) == 0:
        raise corrupt_artefact(f"{store.uri_for(data_key)} has no train rows")
    if task == "classify":
        k = len(classes or [])
        for split in (train, holdout):
            assert split.y is not None
            if k < 2 or not np.all((split.y >= 0) & (split.y < k) & (split.y == np.round(split.y))):
                raise corrupt_artefact(f"{store.uri_for(data_key)}: classify targets must be class indexes 0..{k - 1}")
    return Frame(
        task=task,
        feature_columns=columns,
        feature_names=names,
        classes=list(classes) if classes is not None else None,
        preprocessing=meta.get("preprocessing", {}),
        train=train,
        holdout=holdout,
        digest=digest,
    )
