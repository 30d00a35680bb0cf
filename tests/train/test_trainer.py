"""The training loop: determinism, exact resume (also after kill -9), schedule, early stopping, timing."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro.harness.experiment import NullProgress
from repro.harness.train.trainer import FitResult, TrainConfig, fit, seed_everything
from train_helpers import RESUME_CONFIG, small_dlrm, small_splits

HERE = Path(__file__).resolve().parent
CONFIG = TrainConfig(epochs=2, lr=0.05, optimizer="adagrad", sparse_optimizer="rowwise_adagrad", eval_every_steps=20)


def _run(config: TrainConfig = CONFIG, checkpoint_dir: Path | None = None, backend: str = "torchrec") -> FitResult:
    seed_everything(0)
    train, splits = small_splits()
    return fit(small_dlrm(backend), train, splits, [""], config, "cpu", checkpoint_dir=checkpoint_dir)


def test_same_seed_gives_bitwise_identical_metrics() -> None:
    first, second = _run(), _run()
    assert first.metrics == second.metrics and first.step_losses == second.step_losses
    assert first.metrics["test_auc"] > 0.6  # it learns the synthetic signal


def test_eval_schedule_best_final_and_timing() -> None:
    result = _run()
    assert [row["step"] for row in result.curve] == [20, 40, 60]  # every 20 steps and at the end
    assert {"test_auc", "val_ne", "test_calibration", "final_test_auc", "best_step"} <= set(result.metrics)
    assert result.metrics["val_auc"] == max(row["val_auc"] for row in result.curve)
    assert result.metrics["final_test_auc"] == result.curve[-1]["test_auc"]
    assert set(result.step_ms) == {"data", "forward", "backward", "optimizer", "total", "cpu_total"}
    assert result.examples_per_s > 0 and len(result.step_losses) == 60


def test_early_stopping_counts_evaluations() -> None:
    config = dataclasses.replace(CONFIG, epochs=50, lr=10.0, eval_every_steps=5, early_stopping_patience=2)
    result = _run(config)
    assert len(result.step_losses) < 50 * 30
    best = max(range(len(result.curve)), key=lambda i: result.curve[i]["val_auc"])
    assert len(result.curve) - 1 - best == 2


class _Interrupt(Exception):
    pass


class _StopAtSecondEvaluation(NullProgress):
    def __init__(self) -> None:
        self.calls = 0

    def update(self, epoch: int, examples_per_s: float, message: str = "") -> None:
        self.calls += 1
        if self.calls == 2:
            raise _Interrupt(message)


def test_resume_in_process_is_exact(tmp_path: Path) -> None:
    config = dataclasses.replace(RESUME_CONFIG, epochs=3)
    reference = _run(config)
    seed_everything(0)
    train, splits = small_splits()
    with pytest.raises(_Interrupt, match="step 80"):
        fit(small_dlrm(), train, splits, [""], config, "cpu", _StopAtSecondEvaluation(), tmp_path)
    assert [p.name for p in tmp_path.glob("step-*.pt")] == ["step-000000075.pt"]  # only the newest is kept
    resumed = _run(config, tmp_path)
    assert resumed.metrics == reference.metrics and resumed.step_losses == reference.step_losses
    assert not list(tmp_path.glob("step-*.pt")) and (tmp_path / "result.json").exists()
    assert _run(config, tmp_path).metrics == reference.metrics  # a finished run is reused, not retrained


def test_resume_after_kill_9_matches_uninterrupted_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(HERE / "resume_worker.py"), str(tmp_path)]
    worker = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any(tmp_path.glob("step-*.pt")) and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.01)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert worker.returncode == -signal.SIGKILL and not (tmp_path / "result.json").exists()
    subprocess.run(command, env=env, stderr=subprocess.DEVNULL, check=True)
    resumed = json.loads((tmp_path / "result.json").read_text())
    reference = _run(RESUME_CONFIG)
    assert resumed["metrics"] == reference.metrics
    assert resumed["step_losses"] == reference.step_losses
