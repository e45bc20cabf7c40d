"""Fixtures: a temp file:// store per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain_trainer.store import FileBlobStore


@pytest.fixture
def store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "store")
