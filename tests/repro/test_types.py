"""The type checker over the three packages (configuration in pyproject.toml's ``[tool.mypy]``): zero errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mypy_reports_no_errors() -> None:
    """``mypy`` (repro, harness, papers) finds nothing: an unused ``type: ignore`` counts as an error too."""
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
