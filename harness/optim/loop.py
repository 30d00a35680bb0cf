"""A minimal epoch loop for runs that bring their own optimizer or a rating (MSE) loss.

The shared trainer (harness/train/trainer.py) builds its optimizers from names and trains with
binary cross-entropy. Two embedding studies need what it does not take yet: frequency-aware SGD
(an optimizer with per-table row frequencies; Li et al. 2022) and explicit-rating matrix
factorization with mean squared error (Ginart et al. 2019, collaborative filtering). This loop
does only that: train for `epochs`, evaluate val and test after each, keep the epoch with the
best validation score (AUC for ``bce``, lowest RMSE for ``mse``), report its metrics.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
from torch import nn

from repro.harness.experiment import Progress
from repro.harness.metrics import binary_metrics

LOSSES = ("bce", "mse")


@dataclass
class LoopResult:
    """Metrics of the best-validation epoch, the per-epoch curve, and the training speed."""

    metrics: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)
    examples_per_s: float = 0.0


@torch.no_grad()
def predict(model: nn.Module, batches: Iterable[Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Model outputs and labels over every batch, as 1-D float tensors on the CPU."""
    model.eval()
    outputs, labels = [], []
    for batch in batches:
        batch = batch.to(device)
        outputs.append(model(batch).reshape(-1).float().cpu())
        labels.append(batch.labels.reshape(-1).float().cpu())
    return torch.cat(outputs), torch.cat(labels)


def split_metrics(outputs: torch.Tensor, labels: torch.Tensor, loss: str, split: str) -> dict[str, float]:
    """``<split>_<metric>``: binary metrics of logits (``bce``) or MSE/RMSE/MAE of ratings (``mse``)."""
    if loss == "bce":
        return {f"{split}_{k}": v for k, v in binary_metrics(outputs, labels).items()}
    mse = float(torch.mean((outputs - labels) ** 2))
    return {f"{split}_mse": mse, f"{split}_rmse": math.sqrt(mse), f"{split}_mae": float(torch.mean((outputs - labels).abs()))}


def _score(row: dict[str, float], loss: str) -> float:
    return row["val_auc"] if loss == "bce" else -row["val_rmse"]


def train_loop(model: nn.Module, train: Any, evals: dict[str, Any], optimizer: Any, loss: str,
               epochs: int, progress: Progress, device: torch.device | str = "cpu") -> LoopResult:
    """Train `model` with `optimizer` on `loss` (``"bce"`` on logits or ``"mse"`` on ratings).

    `optimizer` is a ``torch.optim.Optimizer`` or anything with ``zero_grad()`` and ``step()`` (e.g.
    the trainer's :class:`~repro.harness.train.optim.Optimizers`: dense plus sparse optimizers).

    `evals` must hold ``"val"`` (and usually ``"test"``); a loader with ``set_epoch`` is told the
    epoch so that its shuffling changes between epochs.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if "val" not in evals:
        raise ValueError("evals needs a 'val' split to select the best epoch")
    device = torch.device(device)
    model.to(device)
    criterion: nn.Module = nn.BCEWithLogitsLoss() if loss == "bce" else nn.MSELoss()
    curve: list[dict[str, float]] = []
    best: dict[str, float] = {}
    examples, seconds = 0, 0.0
    for epoch in range(epochs):
        if hasattr(train, "set_epoch"):
            train.set_epoch(epoch)
        model.train()
        started, total, steps = time.perf_counter(), 0.0, 0
        for batch in train:
            batch = batch.to(device)
            optimizer.zero_grad()
            value = criterion(model(batch).reshape(-1), batch.labels.reshape(-1).float())
            value.backward()
            optimizer.step()
            total, steps, examples = total + float(value.detach()), steps + 1, examples + len(batch.labels)
        seconds += time.perf_counter() - started
        row = {"epoch": float(epoch + 1), "train_loss": total / max(steps, 1)}
        for split, batches in evals.items():
            row.update(split_metrics(*predict(model, batches, device), loss, split))
        curve.append(row)
        progress.update(epoch + 1, examples / max(seconds, 1e-9), f"val score {_score(row, loss):.4f}")
        if not best or _score(row, loss) > _score(best, loss):
            best = row
    metrics = {k: v for k, v in best.items() if k != "train_loss"}
    metrics["best_epoch"] = best["epoch"]
    return LoopResult(metrics=metrics, curve=curve, examples_per_s=examples / max(seconds, 1e-9))
