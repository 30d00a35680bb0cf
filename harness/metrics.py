"""Evaluation metrics as recommendation papers report them: click prediction and rating prediction.

Click prediction (:func:`binary_metrics`): AUC comes from torchmetrics; NE (normalized entropy:
the log loss divided by the entropy of the empirical CTR, He et al., ADKDD 2014, the metric of
Meta's papers) from torchrec.metrics; log loss, accuracy and calibration (predicted CTR /
observed CTR) in float64 here. They take the model's logits and 0/1 labels. Beside them, the
base rate (``ctr``) and the metrics of the best constant predictor on the same rows (it predicts
the base rate: AUC 0.5, accuracy of the majority class, log loss = the label entropy, NE 1), as
``constant_<metric>``: a model no better than these has learned nothing the claims could use.

Rating prediction (:func:`regression_metrics`; explicit-rating matrix factorization, as in the
collaborative-filtering experiments of Ginart et al. 2019): MSE, RMSE and MAE in float64 of
predicted against true ratings, and those of the constant predictor of the mean rating on the
same rows (``constant_mse`` etc.).

Every function takes the outputs and labels of a whole evaluation split.
"""

from __future__ import annotations

import torch
from torchmetrics.functional.classification import binary_auroc
from torchrec.metrics.ne import compute_ne, get_ne_states

ETA = 1e-12


def binary_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """AUC, log loss, NE, accuracy, calibration and CTR of `logits` against `labels` (1-D)."""
    logits = logits.detach().reshape(-1).to(torch.float64).cpu()
    labels = labels.detach().reshape(-1).to(torch.float64).cpu()
    probs = torch.sigmoid(logits)
    logloss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).item()
    states = get_ne_states(labels.unsqueeze(0), probs.unsqueeze(0), torch.ones_like(labels).unsqueeze(0), ETA)
    ne = compute_ne(states["cross_entropy_sum"], states["weighted_num_samples"], states["pos_labels"],
                    states["neg_labels"], ETA).item()
    ctr = labels.mean().item()
    constant = labels.min() == labels.max()
    entropy = torch.special.entr(torch.tensor([ctr, 1.0 - ctr], dtype=torch.float64)).sum().item()
    return {
        "auc": float("nan") if constant else binary_auroc(probs, labels.long()).item(),
        "logloss": logloss,
        "ne": ne,
        "accuracy": ((probs >= 0.5).to(torch.float64) == labels).to(torch.float64).mean().item(),
        "calibration": probs.mean().item() / ctr if ctr > 0 else float("nan"),
        "ctr": ctr,
        "constant_auc": 0.5,
        "constant_logloss": entropy,
        "constant_ne": 1.0,
        "constant_accuracy": max(ctr, 1.0 - ctr),
    }


def regression_metrics(predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """MSE, RMSE and MAE of `predictions` against `targets` (1-D, e.g. predicted and true ratings)."""
    targets = targets.detach().reshape(-1).to(torch.float64).cpu()
    error = predictions.detach().reshape(-1).to(torch.float64).cpu() - targets
    mse = error.square().mean().item()
    constant_error = targets - targets.mean()
    constant_mse = constant_error.square().mean().item()
    return {"mse": mse, "rmse": mse ** 0.5, "mae": error.abs().mean().item(),
            "constant_mse": constant_mse, "constant_rmse": constant_mse ** 0.5,
            "constant_mae": constant_error.abs().mean().item()}


def prediction_churn(logits_a: torch.Tensor, logits_b: torch.Tensor) -> dict[str, float]:
    """How much two models' predictions on the same rows differ (H8 of the distributed spec).

    ``churn``: the mean absolute difference of the predicted probabilities, ``mean |p_a - p_b|``
    (Anil et al. 2018, Sec. 4, the prediction churn between two retrains of a Criteo model);
    ``disagreement``: the fraction of rows whose decision at probability 0.5 differs. Compare two
    independent retrains (different seeds), not the members of one codistilled pair.
    """
    a = torch.sigmoid(logits_a.detach().reshape(-1).to(torch.float64).cpu())
    b = torch.sigmoid(logits_b.detach().reshape(-1).to(torch.float64).cpu())
    if a.shape != b.shape:
        raise ValueError(f"churn compares predictions on the same rows, got {a.numel()} and {b.numel()}")
    return {"churn": (a - b).abs().mean().item(),
            "disagreement": ((a >= 0.5) != (b >= 0.5)).to(torch.float64).mean().item()}
