"""A wheel built from the checkout works on its own: run from another folder, it finds every paper and runs one.

The wheel is installed with ``--no-deps`` into a fresh target folder that is put first on the
path, so the project's code comes only from the wheel (never from the checkout or its editable
install) while torch and the other dependencies come from the test environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from repro.registry import load_registry

REPO = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output if it fails."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(a folder outside the checkout, the environment whose path starts at the installed wheel)."""
    root = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    source = root / "source"  # a copy, so the build leaves nothing (build/, *.egg-info) in the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "results", "site", "build", "dist",
                                                                  "*.egg-info", ".asv", "__pycache__", "asv-*"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"),
         str(source)], root, env)
    wheels = list((root / "dist").glob("recrepro-*.whl"))
    assert len(wheels) == 1, wheels
    run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(root / "site"), str(wheels[0])],
        root, env)
    env["PYTHONPATH"] = str(root / "site")
    (root / "elsewhere").mkdir()
    return root / "elsewhere", env


@pytest.mark.slow
def test_installed_wheel_lists_every_implemented_paper(installed: tuple[Path, dict[str, str]]) -> None:
    """`repro list` from the wheel shows the same implemented papers as the checkout's registry."""
    cwd, env = installed
    where = run([sys.executable, "-c", "import repro, papers, harness; print(repro.__file__, papers.__file__)"],
                cwd, env).stdout
    assert str(REPO) not in where and "site" in where, where
    listed = json.loads(run([sys.executable, "-m", "repro.cli", "list", "--json", "--implemented"], cwd, env).stdout)
    expected = sorted(p.id for p in load_registry().values() if p.implemented)
    assert sorted(row["id"] for row in listed) == expected


@pytest.mark.slow
def test_installed_wheel_runs_a_smoke_run(installed: tuple[Path, dict[str, str]]) -> None:
    """A smoke run of the DLRM paper completes from the wheel and writes its record outside the checkout."""
    cwd, env = installed
    run([sys.executable, "-m", "repro.cli", "run", "dlrm", "--profile", "smoke", "--no-figures",
         "--results", str(cwd / "results")], cwd, env)
    records = list((cwd / "results" / "dlrm").glob("*/record.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["status"] == "completed" and record["verdicts"]
