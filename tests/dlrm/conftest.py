"""DLRM paper tests run on one intra-op thread (same fixture as tests/train; the lead may hoist it to tests/conftest.py)."""

from __future__ import annotations

from typing import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Use one torch thread for the test, then restore the session's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
