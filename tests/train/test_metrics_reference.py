"""binary_metrics against a float64 NumPy reference on random data (AUC with ties, logloss, NE, ...)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.metrics import binary_metrics


def _reference(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    p = 1.0 / (1.0 + np.exp(-logits))
    pos, neg = p[labels == 1], p[labels == 0]
    # AUC = P(score_pos > score_neg) + 0.5 P(tie), by direct pair counting
    diff = pos[:, None] - neg[None, :]
    auc = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / (pos.size * neg.size)
    logloss = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    ctr = labels.mean()
    entropy = -(ctr * np.log(ctr) + (1 - ctr) * np.log(1 - ctr))
    return {"auc": auc, "logloss": logloss, "ne": logloss / entropy,
            "accuracy": np.mean((p >= 0.5) == (labels == 1)), "calibration": p.mean() / ctr, "ctr": ctr}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_float64_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    labels = (rng.random(n) < 0.25).astype(np.float64)
    logits = rng.normal(size=n) + 1.5 * labels - 1.0
    logits[:200] = np.round(logits[:200], 1)  # ties
    ours = binary_metrics(torch.tensor(logits, dtype=torch.float32), torch.tensor(labels))
    ref = _reference(torch.tensor(logits, dtype=torch.float32).double().numpy(), labels)
    for name, value in ref.items():
        # torchmetrics returns AUC as float32 (ulp ~6e-8); the rest is float64 end to end
        tolerance = 1e-7 if name == "auc" else 1e-12
        assert ours[name] == pytest.approx(value, rel=tolerance, abs=tolerance), name


def test_constant_labels_give_nan_auc() -> None:
    out = binary_metrics(torch.randn(10), torch.ones(10))
    assert np.isnan(out["auc"]) and out["ctr"] == 1.0
