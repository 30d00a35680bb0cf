"""The training loop: determinism, exact resume (also after kill -9), schedule, early stopping, timing,
progress, the MSE objective and caller-built optimizers."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch
from rich.console import Console
from torch import nn

from harness.errors import ConfigError
from harness.experiment import NullProgress, Progress
from harness.optim.fa_sgd import COUNTER, FrequencyAwareSGD
from harness.train.optim import Optimizers
from harness.train.trainer import FitResult, TrainConfig, fit, seed_everything
from repro.progress import ConsoleProgress
from train_helpers import RESUME_CONFIG, LinearRating, rating_splits, small_dlrm, small_splits

HERE = Path(__file__).resolve().parent
# The workers import the checkout under test (not whatever copy of the packages is installed).
WORKER_PATH = os.pathsep.join([str(HERE), str(HERE.parents[1])])
CONFIG = TrainConfig(epochs=2, lr=0.05, optimizer="adagrad", sparse_optimizer="rowwise_adagrad", eval_every_steps=20)


def _run(config: TrainConfig = CONFIG, checkpoint_dir: Path | None = None, progress: Progress | None = None,
         backend: str = "torchrec") -> FitResult:
    seed_everything(0)
    train, splits = small_splits()
    return fit(small_dlrm(backend), train, splits, [""], config, "cpu", progress, checkpoint_dir)


def _cf_sgd_optimizers(model: nn.Module, lr: float) -> Optimizers:
    """CF-SGD (counter-based frequency-aware SGD, papers/fa_sgd) on the tables, plain SGD on the rest."""
    tables = [m.weight for m in model.modules() if isinstance(m, nn.EmbeddingBag)]
    table_ids = {id(p) for p in tables}
    dense = [p for p in model.parameters() if id(p) not in table_ids]
    return Optimizers(dense=torch.optim.SGD(dense, lr=lr),
                      sparse=[FrequencyAwareSGD([{"params": tables, "frequency": COUNTER}], lr=lr)])


def _run_cf_sgd(config: TrainConfig, checkpoint_dir: Path | None = None,
                progress: Progress | None = None) -> FitResult:
    seed_everything(0)
    train, splits = small_splits()
    model = small_dlrm("torch")
    return fit(model, train, splits, [""], config, "cpu", progress, checkpoint_dir,
               optimizers=_cf_sgd_optimizers(model, config.lr))


def _run_ratings(config: TrainConfig, progress: Progress | None = None) -> FitResult:
    seed_everything(0)
    train, splits = rating_splits()
    return fit(LinearRating(4), train, splits, [""], config, "cpu", progress)


class _Recording(NullProgress):
    def __init__(self) -> None:
        self.updates: list[tuple[int, str]] = []

    def update(self, epoch: int, examples_per_s: float, message: str = "") -> None:
        self.updates.append((epoch, message))


def test_same_seed_gives_bitwise_identical_metrics() -> None:
    first, second = _run(), _run()
    assert first.metrics == second.metrics and first.step_losses == second.step_losses
    assert first.metrics["test_auc"] > 0.6  # it learns the synthetic signal


def test_bf16_autocast_trains_and_stays_near_fp32() -> None:
    # bf16 forward (autocast: MLPs, interaction with its alignment padding), fp32 loss and optimisers
    fp32, bf16 = _run(), _run(dataclasses.replace(CONFIG, precision="bf16"))
    assert all(torch.isfinite(torch.tensor(bf16.step_losses)))
    assert bf16.metrics["test_auc"] > 0.6
    assert abs(bf16.metrics["test_auc"] - fp32.metrics["test_auc"]) < 0.03
    assert bf16.step_losses != fp32.step_losses  # the forward really ran in bf16


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


def _assert_resume_is_exact(run: Callable[[TrainConfig, Path | None, Progress | None], FitResult],
                            config: TrainConfig, tmp_path: Path) -> None:
    reference = run(config, None, None)
    with pytest.raises(_Interrupt, match="step 80"):
        run(config, tmp_path, _StopAtSecondEvaluation())
    assert [p.name for p in tmp_path.glob("step-*.pt")] == ["step-000000075.pt"]  # only the newest is kept
    resumed = run(config, tmp_path, None)
    assert resumed.metrics == reference.metrics and resumed.step_losses == reference.step_losses
    assert not list(tmp_path.glob("step-*.pt")) and (tmp_path / "result.json").exists()
    assert run(config, tmp_path, None).metrics == reference.metrics  # a finished run is reused, not retrained


def test_resume_in_process_is_exact(tmp_path: Path) -> None:
    _assert_resume_is_exact(_run, dataclasses.replace(RESUME_CONFIG, epochs=3), tmp_path)


def test_resume_restores_prebuilt_optimizers(tmp_path: Path) -> None:
    """CF-SGD's per-row counters are optimizer state: a resumed run must continue them, not restart at 0."""
    _assert_resume_is_exact(_run_cf_sgd, dataclasses.replace(RESUME_CONFIG, epochs=3, sparse_optimizer=None),
                            tmp_path)


@pytest.mark.slow
def test_resume_after_kill_9_matches_uninterrupted_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": WORKER_PATH, "OMP_NUM_THREADS": "1"}
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


@pytest.mark.parametrize(("schedule", "epochs"), [
    ({}, [1, 2]),  # after each epoch
    ({"eval_every_steps": 30}, [1, 2]),  # at the last step of each (30-batch) epoch
    ({"eval_every_steps": 25}, [1, 2, 2]),  # steps 25, 50 and the end (60)
    ({"eval_every_steps": 15, "max_steps": 45}, [1, 1, 2]),
])
def test_progress_reports_the_evaluated_epoch_never_one_past(schedule: dict[str, int], epochs: list[int]) -> None:
    """The live bar once showed "3/2 epochs": evaluations after an epoch's end reported the epoch counter + 1."""
    progress = _Recording()
    _run(dataclasses.replace(CONFIG, **{"eval_every_steps": None, **schedule}), progress=progress)
    assert [epoch for epoch, _ in progress.updates] == epochs


def test_console_summary_counts_the_configured_epochs() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    progress = ConsoleProgress(console)
    progress.start_job("dlrm", 0, CONFIG.epochs)
    _run(dataclasses.replace(CONFIG, eval_every_steps=None), progress=progress)
    progress.end_job()
    assert "dlrm seed 0: 2 epochs," in console.file.getvalue()  # type: ignore[attr-defined]


MSE_CONFIG = TrainConfig(epochs=4, lr=0.05, optimizer="sgd", loss="mse")


def test_mse_loss_reports_rating_metrics() -> None:
    progress = _Recording()
    result = _run_ratings(MSE_CONFIG, progress)
    assert {"val_rmse", "val_mse", "val_mae", "test_rmse", "final_test_rmse", "best_epoch"} <= set(result.metrics)
    assert not any("auc" in name or "logloss" in name for name in result.metrics)
    assert result.metrics["val_rmse"] == pytest.approx(result.metrics["val_mse"] ** 0.5)
    assert result.metrics["test_rmse"] < 0.4  # learns: the ratings' spread is ~1.2, their noise 0.3
    assert all("val RMSE" in message for _, message in progress.updates)
    assert _run_ratings(MSE_CONFIG).metrics == result.metrics  # deterministic


def test_mse_selects_the_lowest_val_rmse_and_stops_on_it() -> None:
    config = dataclasses.replace(MSE_CONFIG, epochs=50, lr=0.3, eval_every_steps=5, early_stopping_patience=2)
    result = _run_ratings(config)
    rmse = [row["val_rmse"] for row in result.curve]
    best = rmse.index(min(rmse))
    assert 0 < best < len(rmse) - 1  # neither the first nor the last evaluation: selection is exercised
    assert result.metrics["val_rmse"] == min(rmse) and result.best_step == result.curve[best]["step"]
    assert len(rmse) - 1 - best == 2


def test_unknown_loss_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown loss 'hinge'"):
        _run_ratings(dataclasses.replace(MSE_CONFIG, loss="hinge"))


def test_prebuilt_optimizers_train_the_model() -> None:
    seed_everything(0)
    train, splits = small_splits()
    model = small_dlrm("torch")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizers = _cf_sgd_optimizers(model, 0.1)
    result = fit(model, train, splits, [""], dataclasses.replace(CONFIG, sparse_optimizer=None, lr=0.1), "cpu",
                 optimizers=optimizers)
    # CF-SGD counted, per table row, the steps whose batch looked it up (every batch twice in 2 epochs) ...
    counters = [state["counter"] for state in optimizers.sparse[0].state.values()]
    for f, counter in enumerate(counters):
        seen = torch.zeros_like(counter)
        for batch in train:
            seen[batch.sparse_features[f"f{f}"].values().unique()] += CONFIG.epochs
        torch.testing.assert_close(counter, seen, rtol=0, atol=0)
    assert len(counters) == 4 and len(result.step_losses) == 60
    # ... and the dense SGD moved everything else.
    assert all(not torch.equal(before[name], p) for name, p in model.named_parameters())


def test_prebuilt_optimizers_and_a_sparse_optimizer_conflict() -> None:
    with pytest.raises(ConfigError, match="prebuilt optimizers"):
        _run_cf_sgd(CONFIG)
