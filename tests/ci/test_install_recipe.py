"""The install recipe: every version from the lock files, torchrec last (so pip prints no conflict ERROR)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = (REPO / "scripts" / "bootstrap.sh").read_text()


def _pins(name: str) -> dict[str, str]:
    lines = [line for line in (REPO / "constraints" / name).read_text().splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.\-+!]+", line) for line in lines), lines
    return {re.sub(r"[-_.]+", "-", line.split("==")[0].lower()): line.split("==")[1] for line in lines}


def test_lock_files_pin_the_stacks():
    cpu, gpu = _pins("cpu.txt"), _pins("gpu.txt")
    assert cpu["torch"] == gpu["torch"] == "2.13.0"
    assert cpu["torchrec"] == gpu["torchrec"] == "1.8.0"
    assert cpu["fbgemm-gpu-cpu"] == gpu["fbgemm-gpu"] == "1.8.0"
    assert "fbgemm-gpu" not in cpu and "fbgemm-gpu-cpu" not in gpu
    assert {k: v for k, v in cpu.items() if k != "fbgemm-gpu-cpu"} == {k: v for k, v in gpu.items() if k != "fbgemm-gpu"}


def test_every_install_is_constrained_and_torchrec_comes_last():
    installs = [line.strip() for line in BOOTSTRAP.splitlines() if line.strip().startswith('"${pip[@]}"')]
    assert 'local pip=(.venv/bin/python -m pip install --disable-pip-version-check -q -c "$CONSTRAINTS")' in BOOTSTRAP
    assert installs[-1] == '"${pip[@]}" --no-deps torchrec==1.8.0'
    assert installs.index('"${pip[@]}" -e \'.[dev]\'') < len(installs) - 1
    assert 'cat pyproject.toml scripts/bootstrap.sh "$CONSTRAINTS"' in BOOTSTRAP  # the lock is part of the recipe
