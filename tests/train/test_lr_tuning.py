"""Learning-rate tuning on a tuning seed (harness.study.run_tuned_study) and metrics at fractions of a pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from harness.errors import ConfigError
from harness.experiment import ExperimentContext
from harness.study import (LrTuning, Study, Trained, Variant, lr_trial, metrics_at_fractions, run_tuned_study,
                           with_lr_grid)
from harness.train.trainer import FitResult, TensorBatches, TrainConfig

GRID = (1e-4, 0.3)


def _data(source: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(256, 4, generator=gen)
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).float()


def _loaders(data, seed):  # type: ignore[no-untyped-def]
    x, y = data
    return TensorBatches(x, y, 32, shuffle=True, seed=seed), {"val": TensorBatches(x, y, 256),
                                                             "test": TensorBatches(x, y, 256)}


class _Logistic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, batch) -> torch.Tensor:  # type: ignore[no-untyped-def]
        return self.linear(batch.features).squeeze(1)


def design(ctx: ExperimentContext) -> Study:
    config = TrainConfig(epochs=2, lr=GRID[0], optimizer="sgd")
    base = {name: Variant(name, build=lambda data: _Logistic(), train=config) for name in ("a", "b", "a_ablated")}
    return Study(variants=with_lr_grid(base, GRID), data=_data, loaders=_loaders)


def _ctx(tmp_path: Path, seeds: list[int]) -> ExperimentContext:
    return ExperimentContext(paper_id="toy", profile="smoke", seeds=seeds, device="cpu", data_dir=tmp_path,
                             work_dir=tmp_path / "work", params=None)


def test_each_model_keeps_its_best_rate_and_followers_borrow_it(tmp_path: Path) -> None:
    tuned = run_tuned_study(_ctx(tmp_path, [0, 1]), design, LrTuning(GRID, seed=9, tuned_by={"a_ablated": "a"}))
    # SGD at 1e-4 barely moves a logistic model in 16 steps; 0.3 learns the planted boundary.
    assert tuned.chosen == {"a": 0.3, "b": 0.3, "a_ablated": 0.3}
    assert sorted({t.model for t in tuned.trials}) == sorted(lr_trial(m, lr) for m in ("a", "b") for lr in GRID)
    assert {t.seed for t in tuned.trials} == {9}
    assert sorted((r.model, r.seed) for r in tuned.result.runs) == [(m, s) for m in ("a", "a_ablated", "b") for s in (0, 1)]
    assert all(r.metrics["lr"] == 0.3 for r in tuned.result.runs)
    assert set(tuned.result.models["a_ablated"]["tuning_val_auc"]) == {"0.0001", "0.3"}


def test_the_tuning_seed_must_not_be_evaluated_and_followers_must_name_tuned_models(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tuning seed 1 is one of the evaluated seeds"):
        run_tuned_study(_ctx(tmp_path, [0, 1]), design, LrTuning(GRID, seed=1))
    with pytest.raises(ConfigError, match="unknown model"):
        run_tuned_study(_ctx(tmp_path, [0]), design, LrTuning(GRID, seed=9, tuned_by={"c": "a"}))
    with pytest.raises(ConfigError, match="take another model's rate"):
        run_tuned_study(_ctx(tmp_path, [0]), design, LrTuning(GRID, seed=9, tuned_by={"a_ablated": "b", "b": "a"}))


def test_metrics_at_fractions_read_the_nearest_evaluation() -> None:
    curve = [{"epoch": 1, "step": s, "train_loss": 0.0, "val_auc": s / 100, "test_ne": 1 - s / 100}
             for s in (10, 20, 30, 40, 50)]
    result = FitResult(metrics={}, curve=curve)
    measured = metrics_at_fractions([0.2, 0.6, 1.0])(Trained(nn.Identity(), None, result))
    assert measured == {"val_auc_at_20pct": 0.1, "test_ne_at_20pct": 0.9, "val_auc_at_60pct": 0.3,
                        "test_ne_at_60pct": 0.7, "val_auc_at_100pct": 0.5, "test_ne_at_100pct": 0.5}


def test_a_fixed_model_keeps_its_rate_untuned_while_the_others_are_tuned(tmp_path: Path) -> None:
    tuned = run_tuned_study(_ctx(tmp_path, [0]), design,
                            LrTuning(GRID, seed=9, fixed={"a": 1e-4}, tuned_by={"a_ablated": "a"}))
    assert tuned.chosen == {"a": 1e-4, "a_ablated": 1e-4, "b": 0.3}
    assert sorted({t.model for t in tuned.trials}) == sorted(lr_trial("b", lr) for lr in GRID)  # no trials for a
    assert tuned.result.models["a"]["lr_tuned"] is False and tuned.result.models["a_ablated"]["lr_tuned"] is False
    assert tuned.result.models["b"]["lr_grid"] == list(GRID)
    with pytest.raises(ConfigError, match=r"fixed learning rates \{'a': 0.01\} are not in the grid"):
        run_tuned_study(_ctx(tmp_path, [0]), design, LrTuning(GRID, seed=9, fixed={"a": 0.01}))
    with pytest.raises(ConfigError, match="unknown model"):
        run_tuned_study(_ctx(tmp_path, [0]), design, LrTuning(GRID, seed=9, fixed={"c": 0.3}))
