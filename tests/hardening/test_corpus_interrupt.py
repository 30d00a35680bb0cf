"""Ctrl-C for real: SIGINT to the process group of `repro run` while worker processes train."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.corpus("traceback")
def test_sigint_during_parallel_jobs_is_one_message_and_resumable(tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "repro.cli", "run", "adatt", "--profile", "smoke", "--seeds", "1", "--jobs", "2",
            "--results", str(results), "--no-figures"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True, cwd=tmp_path)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "worker processes" in line:
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: every process of the group
            break
    rest, _ = proc.communicate(timeout=120)
    text = "".join(lines) + rest
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    match = re.search(r"repro run adatt --resume (\S+) --results (\S+) --no-figures", " ".join(text.split()))
    assert match, text
    resumed = subprocess.run([sys.executable, "-m", "repro.cli", "run", "adatt", "--resume", match.group(1),
                              "--results", match.group(2), "--no-figures"], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (results / "adatt" / match.group(1) / "record.json").is_file()
    assert not list((results / "adatt").glob(".*"))
