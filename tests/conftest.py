"""Shared test setup: the data directory of real samples, and a fresh results folder per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

# Real data for tests: $REPRO_DATA_DIR, else ../shared/datasets beside the checkout.
os.environ.setdefault("REPRO_DATA_DIR", str(SHARED_DATASETS))


@pytest.fixture
def real_data_dir() -> Path:
    """The folder of real datasets and samples; tests needing it skip, with the reason, if absent."""
    path = Path(os.environ["REPRO_DATA_DIR"])
    if not path.is_dir():
        pytest.skip(f"real data folder {path} absent (set REPRO_DATA_DIR)")
    return path
