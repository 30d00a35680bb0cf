"""Codistillation's loss, its stale-copy schedule, the churn metric and the steps-to-target reading, by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from harness.metrics import prediction_churn
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.synthetic import random_ctr_batches
from papers.codistillation.experiment import (Codistillation, distillation_loss, ensemble_logits, steps_to_target,
                                              total_steps)
from papers.codistillation.params import Params


def test_churn_is_the_mean_absolute_probability_difference_between_retrains() -> None:
    a = torch.tensor([0.0, 0.0, math.log(3.0), -math.log(3.0)])  # probabilities 0.5, 0.5, 0.75, 0.25
    b = torch.tensor([math.log(3.0), 0.0, math.log(3.0), math.log(3.0)])  # 0.75, 0.5, 0.75, 0.75
    churn = prediction_churn(a, b)
    assert churn["churn"] == pytest.approx((0.25 + 0 + 0 + 0.5) / 4)
    assert churn["disagreement"] == pytest.approx(1 / 4)  # only the last row changes side of 0.5
    assert prediction_churn(a, a) == {"churn": 0.0, "disagreement": 0.0}
    with pytest.raises(ValueError, match="same rows"):
        prediction_churn(a, b[:2])


def test_distillation_loss_adds_the_weighted_cross_entropy_to_the_stale_prediction() -> None:
    logits, labels = torch.tensor([0.0, math.log(3.0)]), torch.tensor([1.0, 0.0])
    plain = nn.functional.binary_cross_entropy_with_logits(logits, labels)
    assert distillation_loss(logits, labels, None, 1.0) == plain
    teacher = torch.tensor([0.5, 0.75])
    # CE(0.5, p=0.5) = log 2; CE(0.75, p=0.75) = entropy(0.75)
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    expected = plain.item() + 0.5 * (math.log(2) + entropy) / 2
    assert distillation_loss(logits, labels, teacher, 0.5).item() == pytest.approx(expected, rel=1e-6)


def _tiny() -> DLRM:
    return DLRM.from_tables([4, 8, 4], [8, 1], make_tables(["f0", "f1"], [20, 30], 4))


def test_stale_copies_refresh_after_burn_in_and_every_r_steps() -> None:
    torch.manual_seed(0)
    trainer = Codistillation([_tiny(), _tiny()], Params(), weight=1.0, refresh=3, burn_in=2)
    batches = random_ctr_batches(9, 16, 4, [20, 30], seed=1)
    seen = []
    for batch in batches:
        trainer.step(batch)
        seen.append(trainer.refreshes)
    # refreshed at the start of steps 2, 5 and 8 (the burn-in's end, then every 3 steps)
    assert seen == [0, 0, 1, 1, 1, 2, 2, 2, 3]
    for model, stale in zip(trainer.models, trainer.stale):
        weights = dict(model.named_parameters())
        assert any(not torch.equal(weights[k], v) for k, v in stale.named_parameters())  # stale by one step
    weightless = Codistillation([_tiny(), _tiny()], Params(), weight=0.0, refresh=1, burn_in=0)
    weightless.step(batches[0])
    assert weightless.steps == 1


def test_steps_to_target_ensemble_and_step_budget() -> None:
    curve = [{"step": 100.0, "val_logloss": 0.50}, {"step": 200.0, "val_logloss": 0.45}]
    assert steps_to_target(curve, 0.46, 200) == 200.0
    assert steps_to_target(curve, 0.40, 200) == 201.0
    mean = torch.sigmoid(ensemble_logits(torch.tensor([0.0]), torch.tensor([math.log(3.0)])))
    assert mean.item() == pytest.approx(0.625)
    assert total_steps(Params(epochs=2, max_steps=0), 10) == 20 and total_steps(Params(max_steps=5), 10) == 5
