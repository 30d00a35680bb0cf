"""ci/nightly.sh: its option parsing, step selection and failure reporting (no step does real work here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "ci" / "nightly.sh"


def nightly(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the script with `args` from the repository root (outside GitHub Actions unless `env` says so)."""
    base = {k: v for k, v in os.environ.items() if k != "RUNNER_ENVIRONMENT"}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**base, **(env or {})})


def dry_run_lines(*args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """The ``--dry-run`` summary as ``{section: rest of line}``."""
    proc = nightly("--dry-run", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(": ", 1) for line in proc.stdout.splitlines())


def test_help_lists_every_step() -> None:
    proc = nightly("--help")
    assert proc.returncode == 0
    for step in ("setup", "data", "papers", "asv", "micro", "report"):
        assert f"\n  {step} " in proc.stdout


def test_default_selection_leaves_out_the_data_step() -> None:
    out = dry_run_lines()
    assert out["steps"] == "setup papers asv micro report"
    assert "profile=default device=cpu" in out["papers"]
    assert "bench=<all> time-factor=1.10 time-gate=on quality-factor=1.01" in out["asv"]


def test_time_gate_is_informational_on_github_hosted_runners() -> None:
    assert "time-gate=off" in dry_run_lines(env={"RUNNER_ENVIRONMENT": "github-hosted"})["asv"]
    assert "time-gate=on" in dry_run_lines(env={"RUNNER_ENVIRONMENT": "self-hosted"})["asv"]
    assert "time-gate=on" in dry_run_lines("--time-gate", "on", env={"RUNNER_ENVIRONMENT": "github-hosted"})["asv"]


def test_quick_means_smoke_profile_and_quick_asv() -> None:
    out = dry_run_lines("--quick", "--skip", "papers", "--skip", "setup")
    assert out["steps"] == "asv micro report"
    assert "profile=smoke" in out["papers"]
    assert out["asv"].endswith("quick=1")


def test_only_and_gpu_leg_options() -> None:
    out = dry_run_lines("--only", "papers", "--only", "data", "--profile", "full", "--device", "cuda",
                        "--papers", "adatt dlrm")
    assert out["steps"] == "data papers"
    assert out["papers"] == "profile=full device=cuda results=results/nightly ids=adatt dlrm"


@pytest.mark.parametrize(("args", "message"), [
    (["--bogus"], "unknown option '--bogus'"),
    (["--skip", "nope"], "unknown step 'nope'"),
    (["--profile", "huge"], "--profile must be smoke, default or full"),
    (["--device", "tpu"], "--device must be cpu or cuda"),
    (["--base"], "--base needs a value"),
    (["--time-gate", "maybe"], "--time-gate must be on, off or auto"),
])
def test_bad_options_exit_2_with_the_reason(args: list[str], message: str) -> None:
    proc = nightly("--dry-run", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_a_failing_step_is_named_and_fails_the_script() -> None:
    proc = nightly("--only", "asv", "--base", "no-such-commit")
    assert proc.returncode == 1
    assert "baseline 'no-such-commit' is not a commit" in proc.stderr
    assert "failed steps: asv" in proc.stderr


FAKE_ASV = """#!/usr/bin/env bash
# asv stand-in: `continuous` fails (a regression) for the benchmarks named in $FAIL_GATES (time, quality)
case "$1" in
  continuous) case "$*" in *"(?!bench_quality"*) gate=time ;; *) gate=quality ;; esac
              case " $FAIL_GATES " in *" $gate "*) exit 1 ;; esac ;;
esac
exit 0
"""


@pytest.mark.parametrize(("runner", "failing", "rc", "line"), [
    ("github-hosted", "time", 0, "time (informational, shared runner)"),
    ("self-hosted", "time", 1, "time: a benchmark regressed"),
    ("github-hosted", "quality", 1, "quality: a track_* benchmark regressed"),
    ("github-hosted", "", 0, None),
])
def test_time_gate_informs_on_hosted_runners_and_quality_always_gates(tmp_path, runner, failing, rc, line) -> None:
    fake = tmp_path / "asv"
    fake.write_text(FAKE_ASV)
    fake.chmod(0o755)
    status = tmp_path / "status"
    proc = nightly("--only", "asv", "--base", "HEAD", "--status", str(status),
                   env={"RUNNER_ENVIRONMENT": runner, "NIGHTLY_ASV": str(fake), "NIGHTLY_PY": sys.executable,
                        "FAIL_GATES": failing})
    assert proc.returncode == rc, proc.stderr
    lines = (status / "asv-regressions").read_text().splitlines()
    assert (lines == []) if line is None else (len(lines) == 1 and lines[0].startswith(line)), lines
