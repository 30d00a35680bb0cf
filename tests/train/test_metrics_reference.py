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


def test_constant_predictor_metrics_are_those_of_predicting_the_base_rate() -> None:
    # 10 rows, 2 positives: base rate 0.2. The best constant predicts 0.2 for every row:
    # accuracy of the majority class 0.8; log loss = entropy -(0.2 ln 0.2 + 0.8 ln 0.8)
    # = 0.2 * 1.6094379 + 0.8 * 0.2231436 = 0.3218876 + 0.1785148 = 0.5004024; NE 1; AUC 0.5.
    labels = torch.tensor([1.0, 1.0] + [0.0] * 8)
    out = binary_metrics(torch.randn(10), labels)
    assert out["ctr"] == pytest.approx(0.2)
    assert out["constant_accuracy"] == pytest.approx(0.8)
    assert out["constant_logloss"] == pytest.approx(0.5004024, abs=1e-7)
    assert out["constant_ne"] == 1.0 and out["constant_auc"] == 0.5
    # the constant's own log loss, measured: predicting logit(0.2) for every row gives the same number
    measured = binary_metrics(torch.full((10,), float(np.log(0.2 / 0.8))), labels)
    assert measured["logloss"] == pytest.approx(out["constant_logloss"], rel=1e-12)
    assert measured["ne"] == pytest.approx(1.0, rel=1e-9)


def test_constant_rating_predictor_is_the_mean_rating() -> None:
    from harness.metrics import regression_metrics

    # ratings 1, 2, 3, 6: mean 3; constant errors -2, -1, 0, 3 -> MSE (4+1+0+9)/4 = 3.5, MAE 6/4 = 1.5
    out = regression_metrics(torch.zeros(4), torch.tensor([1.0, 2.0, 3.0, 6.0]))
    assert out["constant_mse"] == pytest.approx(3.5) and out["constant_mae"] == pytest.approx(1.5)
    assert out["constant_rmse"] == pytest.approx(3.5 ** 0.5)
