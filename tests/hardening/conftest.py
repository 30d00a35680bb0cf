"""The bad-input corpus: every case runs the CLI in-process and checks exit code, one clear line, no traceback.

Each corpus test is marked ``@pytest.mark.corpus("<kind>")`` with kind one of :data:`KINDS` (the
issue's groups: security holes, former tracebacks, former weak or silent messages, files left
behind, and bad-input cases that already passed). The :func:`cli` fixture runs ``repro.cli.main``
and asserts what every case shares: the expected exit code, no traceback in the output, at most
`max_lines` lines on stderr, and no ``.partial`` or staging folder left under the folders given.
Its observations feed the README's reliability tally: ``python tests/hardening/tally.py`` runs the
corpus and rewrites that section (see there).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pytest

from corpus_state import DESELECTED, OBSERVED, PASSED
from repro.cli import main

KINDS = ("security", "traceback", "weak", "leftover", "bad-input")
LEFTOVER = re.compile(r"(\.partial$|\.tmp$|\.old$)")


@dataclass
class Outcome:
    """What one CLI call did."""

    code: int
    out: str
    err: str
    traceback: bool
    leftovers: list[Path]
    expected_leftovers: bool


def leftovers(folders: Iterable[Path]) -> list[Path]:
    """Unfinished run folders, staging folders and temporary files under `folders`."""
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [p for p in folder.rglob("*") if LEFTOVER.search(p.name)]
    return found


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> Callable[..., Outcome]:
    """Run ``repro <argv>`` in-process and check the shared expectations (see the module docstring)."""
    monkeypatch.delenv("REPRO_DEBUG", raising=False)

    def run(*argv: str, code: int = 2, clean: Iterable[Path] = (), max_lines: int = 3,
            allow_leftovers: bool = False) -> Outcome:
        capsys.readouterr()
        try:
            got = main(list(argv))
        except SystemExit as exc:  # argparse's own usage errors
            got = int(exc.code or 0)
        captured = capsys.readouterr()
        text = captured.out + captured.err
        outcome = Outcome(code=got, out=captured.out, err=captured.err, traceback="Traceback (most recent call last)" in text,
                          leftovers=leftovers(clean), expected_leftovers=allow_leftovers)
        OBSERVED.setdefault(request.node.nodeid, []).append(outcome)
        assert not outcome.traceback, text
        assert got == code, f"exit {got}, expected {code}:\n{text}"
        if code != 0:
            lines = [line for line in captured.err.splitlines() if line.strip()]
            assert 1 <= len(lines) <= max_lines, captured.err
        if not allow_leftovers:
            assert not outcome.leftovers, outcome.leftovers
        return outcome

    return run


def pytest_deselected(items: list[pytest.Item]) -> None:
    DESELECTED.extend(items)


TALLY_ENV = "REPRO_CORPUS_TALLY"  # a JSON file to write the observed tally to (tally.py sets it)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        PASSED.add(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With $REPRO_CORPUS_TALLY set, write what each corpus case did to that file."""
    target = os.environ.get(TALLY_ENV)
    if not target:
        return
    cases = []
    for item in session.items:
        marker = item.get_closest_marker("corpus")
        if marker is None:
            continue
        seen = OBSERVED.get(item.nodeid, [])
        cases.append({
            "id": item.nodeid, "kind": marker.args[0], "passed": item.nodeid in PASSED,
            "clear_error": any(o.code in (2, 130) and not o.traceback for o in seen),
            "traceback": any(o.traceback for o in seen),
            "partial_files": any(o.leftovers and not o.expected_leftovers for o in seen),
        })
    Path(target).write_text(json.dumps(cases, indent=1))
