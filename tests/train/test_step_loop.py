"""The paper-defined step loop: epochs, the step budget, the evaluation schedule, and the tables/MLP split."""

from __future__ import annotations

import pytest
import torch

from harness.errors import ConfigError
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.loop import LoopPlan, ctr_optimizers, dense_parameters, run_steps, table_parameters
from harness.train.trainer import TensorBatches


def _batches() -> TensorBatches:
    return TensorBatches(torch.zeros(10, 2), torch.zeros(10), batch_size=4)  # 3 batches: 4, 4, 2 rows


def test_loop_evaluates_on_schedule_and_stops_at_the_budget() -> None:
    evaluations: list[int] = []

    def evaluate() -> dict[str, float]:
        evaluations.append(1)
        return {"val_metric": float(len(evaluations))}

    result = run_steps(lambda batch: float(batch.labels.shape[0]), _batches(), LoopPlan(epochs=2, eval_every_steps=2),
                       evaluate)
    assert result.steps == 6 and result.examples == 20
    assert [row["step"] for row in result.curve] == [2, 4, 6]
    assert result.curve[0]["train_loss"] == 4.0 and result.curve[1]["train_loss"] == 3.0  # (2 + 4) / 2
    assert result.final == {"val_metric": 3.0}
    capped = run_steps(lambda batch: 1.0, _batches(), LoopPlan(epochs=5, max_steps=4), lambda: {})
    assert capped.steps == 4 and [row["step"] for row in capped.curve] == [3, 4]  # after epoch 1, then at the cap
    with pytest.raises(ConfigError, match="max_steps"):
        LoopPlan(epochs=1, max_steps=0)


def test_tables_and_mlps_get_their_own_optimizers() -> None:
    model = DLRM.from_tables([4, 8, 4], [8, 1], make_tables(["f0", "f1"], [20, 30], 4))
    tables, dense = table_parameters(model), dense_parameters(model)
    assert sum(p.numel() for p in tables) == (20 + 30) * 4
    assert sum(p.numel() for p in tables) + sum(p.numel() for p in dense) == sum(p.numel() for p in model.parameters())
    optimizers = ctr_optimizers(model, 1e-3, 0.05)
    assert isinstance(optimizers.dense, torch.optim.Adam) and isinstance(optimizers.sparse[0], torch.optim.Adagrad)
