"""binary_metrics on one million predictions: the cost of evaluating a split after each epoch."""

from __future__ import annotations

import math

import pytest
import torch

from harness.metrics import binary_metrics

ROWS = 1_000_000


@pytest.mark.benchmark(group="metrics")
def test_binary_metrics_1m(benchmark) -> None:
    """AUC, log loss, NE, accuracy and calibration of 1M float32 logits."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(ROWS, generator=gen) * 1.5 - 1.0
    labels = torch.bernoulli(torch.sigmoid(logits), generator=gen)

    metrics = benchmark(binary_metrics, logits, labels)
    assert 0.5 < metrics["auc"] < 1.0
    assert math.isclose(metrics["calibration"], 1.0, rel_tol=0.02)
