"""Run the bad-input corpus and rewrite the README's reliability tally from what the cases did.

    python tests/hardening/tally.py           # runs tests/hardening (slow cases included), updates README.md
    python tests/hardening/tally.py --check   # exit 1 if README.md's tally differs from a fresh run

The section sits between ``<!-- reliability:start -->`` and ``<!-- reliability:end -->``.
``test_readme_tally.py`` checks, on every test run, that its case counts match the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"
KIND_NAMES = {"security": "security holes", "traceback": "former tracebacks", "weak": "former weak or silent messages",
              "leftover": "former leftover files", "bad-input": "bad input that already failed cleanly"}


def render(cases: list[dict]) -> str:
    """The README section for the observed `cases` (see conftest.pytest_sessionfinish)."""
    kinds = Counter(c["kind"] for c in cases)
    by_kind = ", ".join(f"{kinds[k]} {name}" for k, name in KIND_NAMES.items() if kinds[k])
    clear = sum(c["clear_error"] for c in cases)
    tracebacks = sum(c["traceback"] for c in cases)
    partial = sum(c["partial_files"] for c in cases)
    failed = sum(not c["passed"] for c in cases)
    return (f"{START}\n"
            f"| cases | clear one-line errors | tracebacks | partial files left | failing |\n"
            f"| --- | --- | --- | --- | --- |\n"
            f"| {len(cases)} | {clear} | {tracebacks} | {partial} | {failed} |\n\n"
            + textwrap.fill(f"Cases by origin: {by_kind}. The cases that are not errors end with exit 0 by "
                            f"design (a report or list that skips a corrupt record and names it, a run whose "
                            f"path holds markup characters, a skipped over-long line). Regenerate with "
                            f"`python tests/hardening/tally.py`.", width=100)
            + f"\n{END}")


def observe() -> list[dict]:
    """Run the corpus (slow cases too) and return what each case did."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tally.json"
        env = {**os.environ, "REPRO_CORPUS_TALLY": str(out), "PYTHONPATH": str(REPO)}
        # the README check is left out: it compares against the section this run is about to rewrite
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/hardening",
                        "--deselect", "tests/hardening/test_readme_tally.py::test_readme_tally_counts_every_corpus_case"],
                       cwd=REPO, env=env, check=False)
        return json.loads(out.read_text())


def replace_section(text: str, section: str) -> str:
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{README}: no {START} … {END} section to update")
    return pattern.sub(lambda _: section, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    updated = replace_section(text, render(observe()))
    if args.check:
        return 0 if updated == text else 1
    README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
