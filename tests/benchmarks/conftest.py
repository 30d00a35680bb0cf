"""pytest-benchmark micro-benchmarks: collected always, run only on request.

The plain test suite skips them (timing belongs in benchmarks, not in the test run); the
documented command runs them (see ci/README.md):

    .venv/bin/pytest tests/benchmarks --benchmark-only --benchmark-autosave
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
HOW = "micro-benchmark: run with `.venv/bin/pytest tests/benchmarks --benchmark-only`"


def benchmarks_requested(config: pytest.Config) -> bool:
    """True when the command line asks pytest-benchmark to measure (``--benchmark-only``/``--benchmark-enable``)."""
    return bool(config.getoption("benchmark_only", False) or config.getoption("benchmark_enable", False))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this folder's benchmarks unless they were asked for (other folders' tests are untouched)."""
    if benchmarks_requested(config):
        return
    skip = pytest.mark.skip(reason=HOW)
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)
