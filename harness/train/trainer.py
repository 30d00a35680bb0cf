"""The training loop shared by every paper: epochs, per-task BCE, evaluation, best-epoch selection.

A model maps a batch to logits of shape ``[batch, tasks]`` (single-task models return
``[batch, 1]`` or ``[batch]``); labels have the same shape. Each epoch ends with an evaluation of
every split in `eval_splits` (validation and test), which gives the per-epoch curve. The reported
metrics are those of the epoch with the best mean validation AUC over tasks (the selection rule of
the MMoE/PLE/AdaTT census benchmark: BorealisAI/MMoEEx-MTL picks the epoch with the best sum of
validation AUCs), and the last epoch's are kept too as ``final_*``.

Metric names: ``<split>_<metric>_<task>`` (e.g. ``test_auc_income``); for a single task named
``""`` the suffix is dropped (``test_auc``).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sized

import numpy as np
import torch
from torch import nn

from repro.harness.experiment import NullProgress, Progress
from repro.harness.metrics import binary_metrics


class Batch(Protocol):
    """What the trainer needs of a batch: labels, and a way to move to a device."""

    labels: torch.Tensor

    def to(self, device: torch.device, non_blocking: bool = False) -> "Batch":
        """The same batch on `device`."""


class BatchSource(Iterable[Batch], Sized, Protocol):
    """A re-iterable source of batches (one pass = one epoch) that knows its example count."""

    num_examples: int


@dataclass
class TensorBatch:
    """A batch of dense features and labels held as tensors."""

    features: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device, non_blocking: bool = False) -> "TensorBatch":
        """The same batch on `device`."""
        return TensorBatch(self.features.to(device, non_blocking=non_blocking),
                           self.labels.to(device, non_blocking=non_blocking))


class TensorBatches:
    """Mini-batches over in-memory tensors, reshuffled every epoch by a seeded generator.

    Shuffling draws from its own ``torch.Generator`` so that the order depends only on `seed`
    and the epoch, not on what else consumed random numbers.
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 shuffle: bool = False, seed: int = 0) -> None:
        if len(features) != len(labels):
            raise ValueError(f"features have {len(features)} rows but labels {len(labels)}")
        self.features, self.labels = features, labels
        self.batch_size, self.shuffle = batch_size, shuffle
        self.num_examples = len(labels)
        self._generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (self.num_examples + self.batch_size - 1) // self.batch_size

    def __iter__(self):  # type: ignore[no-untyped-def]
        order = torch.randperm(self.num_examples, generator=self._generator) if self.shuffle else None
        for start in range(0, self.num_examples, self.batch_size):
            if order is None:
                rows = slice(start, start + self.batch_size)
                yield TensorBatch(self.features[rows], self.labels[rows])
            else:
                idx = order[start:start + self.batch_size]
                yield TensorBatch(self.features[idx], self.labels[idx])


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. `lr_decay` multiplies the learning rate after every epoch (1 = off)."""

    epochs: int
    lr: float
    optimizer: str = "adam"
    weight_decay: float = 0.0
    lr_decay: float = 1.0
    early_stopping_patience: int | None = None


@dataclass
class FitResult:
    """Metrics of the selected (best-validation) epoch, the last epoch's, and the curve."""

    metrics: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    wall_time_s: float = 0.0
    examples_per_s: float = 0.0


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that a run is repeatable bit for bit on CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(params: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The dense optimizer named in `config` (a clear error for an unknown name)."""
    try:
        factory = OPTIMIZERS[config.optimizer]
    except KeyError:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; known: {', '.join(OPTIMIZERS)}") from None
    return factory(params, lr=config.lr, weight_decay=config.weight_decay)


def _as_matrix(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


def _metric_name(split: str, metric: str, task: str) -> str:
    return f"{split}_{metric}_{task}" if task else f"{split}_{metric}"


@torch.no_grad()
def evaluate(model: nn.Module, batches: BatchSource, tasks: list[str], split: str,
             device: torch.device) -> dict[str, float]:
    """Metrics of `model` on every batch of `batches`, per task, named ``<split>_<metric>_<task>``."""
    model.eval()
    logits, labels = [], []
    for batch in batches:
        batch = batch.to(device)
        logits.append(_as_matrix(model(batch)).float().cpu())
        labels.append(_as_matrix(batch.labels).float().cpu())
    all_logits, all_labels = torch.cat(logits), torch.cat(labels)
    out: dict[str, float] = {}
    for t, task in enumerate(tasks):
        for metric, value in binary_metrics(all_logits[:, t], all_labels[:, t]).items():
            out[_metric_name(split, metric, task)] = value
    return out


def fit(model: nn.Module, train: BatchSource, eval_splits: dict[str, BatchSource], tasks: list[str],
        config: TrainConfig, device: torch.device | str = "cpu",
        progress: Progress | None = None) -> FitResult:
    """Train `model` for ``config.epochs`` epochs; return the best-validation and final metrics.

    The model is trained with the sum of per-task binary cross-entropies (equal task weights, as
    in AdaTT Sec. 4.1). `eval_splits` must contain ``"val"``; every split in it is evaluated after
    each epoch. With `early_stopping_patience`, training stops once validation has not improved
    for that many epochs.
    """
    if "val" not in eval_splits:
        raise ValueError("eval_splits needs a 'val' split to select the best epoch")
    device = torch.device(device)
    progress = progress or NullProgress()
    model.to(device)
    optimizer = make_optimizer(model.parameters(), config)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    loss_fn = nn.BCEWithLogitsLoss(reduction="mean")
    curve: list[dict[str, float]] = []
    best: dict[str, float] = {}
    best_score, best_epoch, stale = -float("inf"), 0, 0
    train_seconds, started = 0.0, time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_start, loss_sum, steps = time.perf_counter(), 0.0, 0
        for batch in train:
            batch = batch.to(device)
            logits = _as_matrix(model(batch))
            labels = _as_matrix(batch.labels).to(logits.dtype)
            loss = sum(loss_fn(logits[:, t], labels[:, t]) for t in range(len(tasks)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[union-attr]
            optimizer.step()
            loss_sum += float(loss.detach())
            steps += 1
        scheduler.step()
        epoch_seconds = time.perf_counter() - epoch_start
        train_seconds += epoch_seconds
        row: dict[str, float] = {"epoch": epoch, "train_loss": loss_sum / max(steps, 1)}
        for split, batches in eval_splits.items():
            row.update(evaluate(model, batches, tasks, split, device))
        curve.append(row)
        score = float(np.nanmean([row[_metric_name("val", "auc", t)] for t in tasks]))
        progress.update(epoch, train.num_examples / max(epoch_seconds, 1e-9),
                        f"val AUC {score:.4f}")
        if score > best_score:
            best_score, best_epoch, best, stale = score, epoch, row, 0
        else:
            stale += 1
            if config.early_stopping_patience is not None and stale >= config.early_stopping_patience:
                break
    metrics = {k: v for k, v in best.items() if k not in ("epoch", "train_loss")}
    metrics.update({f"final_{k}": v for k, v in curve[-1].items() if k not in ("epoch", "train_loss")})
    metrics["best_epoch"] = float(best_epoch)
    examples = train.num_examples * len(curve)
    return FitResult(metrics=metrics, curve=curve, best_epoch=best_epoch,
                     wall_time_s=time.perf_counter() - started,
                     examples_per_s=examples / max(train_seconds, 1e-9))


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters of `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe(model: nn.Module) -> dict[str, Any]:
    """A short JSON-ready description of `model` for the run record."""
    return {"class": type(model).__name__, "params": count_parameters(model)}
