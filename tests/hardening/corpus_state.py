"""What the corpus cases did in this pytest session (filled by conftest.py, read by the tally)."""

from __future__ import annotations

from typing import Any

OBSERVED: dict[str, list[Any]] = {}  # node id -> the Outcome of each CLI call the case made
PASSED: set[str] = set()  # node ids of the cases that passed
DESELECTED: list[Any] = []  # items left out by -k / -m, still counted as corpus cases
