"""Fixtures of the sharding tests: the official repositories' golden outputs (tests/fixtures/sharding)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sharding"
REPOS = ("autoshard", "dreamshard", "neuroshard")


def load_official(repo: str) -> dict[str, Any]:
    """The JSON the official code of `repo` produced on the fixture inputs."""
    return json.loads((FIXTURES / f"official_{repo}.json").read_text(encoding="utf-8"))


@pytest.fixture
def official() -> Callable[[str], dict[str, Any]]:
    """``official(repo)``: the golden outputs of one repository's code."""
    return load_official


@pytest.fixture
def trace_path() -> Path:
    """The 10-table, batch-64 trace in the dlrm_datasets layout, gzipped."""
    return FIXTURES / "trace_t10_b64.pt.gz"
