"""Shared test setup: the data directory of real samples, and one torch thread per test."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
import torch

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


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Every test runs on one torch thread, then the session's setting comes back.

    Small-batch CPU training is several times faster on one thread on a loaded 2-core machine, and
    a test's numbers then do not depend on how many cores the machine has.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
