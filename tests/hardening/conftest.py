"""The bad-input corpus: every case runs the CLI in-process and checks exit code, one clear line, no traceback.

Each corpus test is marked ``@pytest.mark.corpus("<kind>")`` with kind one of :data:`KINDS` (the
issue's groups: security holes, former tracebacks, former weak or silent messages, files left
behind, and bad-input cases that already passed). The :func:`cli` fixture runs ``repro.cli.main``
and asserts what every case shares: the expected exit code, no traceback in the output, at most
`max_lines` lines on stderr, and no ``.partial`` or staging folder left under the folders given.
Its observations feed the README's reliability tally (see ``tally.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pytest

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


def leftovers(folders: Iterable[Path]) -> list[Path]:
    """Unfinished run folders, staging folders and temporary files under `folders`."""
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [p for p in folder.rglob("*") if LEFTOVER.search(p.name)]
    return found


OBSERVED: dict[str, list[Outcome]] = {}


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
                          leftovers=leftovers(clean))
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
