"""The README's reliability tally counts the corpus as it is (regenerate with tests/hardening/tally.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corpus_state import DESELECTED

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def test_readme_tally_counts_every_corpus_case(request: pytest.FixtureRequest) -> None:
    items = list(request.session.items) + DESELECTED
    collected = {Path(item.path).resolve() for item in items}
    if not set(HERE.glob("test_corpus_*.py")) <= collected:
        pytest.skip("counts the corpus only when all of tests/hardening is collected")
    cases = [item for item in items if item.get_closest_marker("corpus") is not None]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    row = re.search(r"<!-- reliability:start -->\n.*?\n.*?\n\| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", readme)
    assert row, "README.md has no reliability tally; run python tests/hardening/tally.py"
    total, clear, tracebacks, partial, failing = map(int, row.groups())
    assert total == len(cases), f"README tally lists {total} cases, the corpus has {len(cases)}: rerun tally.py"
    assert (tracebacks, partial, failing) == (0, 0, 0)
    assert 0 < clear <= total
