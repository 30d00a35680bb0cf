"""The training loop shared by every paper: steps and epochs, per-task loss, evaluation, selection.

A model maps a batch to outputs of shape ``[batch, tasks]`` (single-task models return
``[batch, 1]`` or ``[batch]``); labels have the same shape. The loss (``TrainConfig.loss``) is
the sum over tasks of either binary cross-entropy on logits (``"bce"``, click prediction) or
mean squared error on predicted values (``"mse"``, explicit-rating matrix factorization as in
Ginart et al. 2019's collaborative filtering); see :data:`OBJECTIVES`. Every split in
`eval_splits` (validation and test) is evaluated after each epoch, or every ``eval_every_steps``
steps and at the end; each evaluation is one row of the curve. The reported metrics are those of
the evaluation with the best validation score, the mean over tasks of the objective's selection
metric: the highest AUC for ``bce`` (the selection rule of the MMoE/PLE/AdaTT census benchmark:
BorealisAI/MMoEEx-MTL picks the epoch with the best sum of validation AUCs), the lowest NE for
``bce_ne`` (binary cross-entropy trained, selected on the quality measure of Meta's papers), the
lowest RMSE for ``mse``; the last evaluation's are kept too as ``final_*``.

Embedding tables are trained by FBGEMM's fused optimisers when ``sparse_optimizer`` is set
(:mod:`harness.train.optim`); the rest by the dense optimiser. A caller whose method is an
optimiser of its own (frequency-aware SGD for the tables, papers/fa_sgd) passes prebuilt
:class:`~harness.train.optim.Optimizers` to :func:`fit` instead. With a `checkpoint_dir`, the
loop writes atomic checkpoints every ``checkpoint_every_steps`` steps and resumes from the newest
one it finds there, so an interrupted run finishes with exactly the metrics of an uninterrupted
one (on CPU; same seed, same data). Under ``torchrun`` (see :mod:`harness.train.distributed`)
each rank trains on its shard of every global batch and metrics are computed over all ranks.

Metric names: ``<split>_<metric>_<task>`` (e.g. ``test_auc_income``, ``test_rmse``); for a single
task named ``""`` the suffix is dropped (``test_auc``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sized

import numpy as np
import torch
from torch import nn

from harness.atomic import write_json
from harness.errors import ConfigError
from harness.experiment import NullProgress, Progress
from harness.metrics import binary_metrics, regression_metrics
from harness.train import checkpoint as ckpt
from harness.train.distributed import agree_on_min, all_gather_cat, global_mean, rank_and_world
from harness.train.optim import Optimizers, SparseSpec, build_optimizers
from harness.train.timing import StepTimer


class Batch(Protocol):
    """What the trainer needs of a batch: labels, and a way to move to a device."""

    labels: torch.Tensor

    def to(self, device: torch.device, non_blocking: bool = False) -> "Batch":
        """The same batch on `device`."""


class BatchSource(Iterable[Batch], Sized, Protocol):
    """A re-iterable source of batches (one pass = one epoch) that knows its batch count."""


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

    def state_dict(self) -> dict[str, Any]:
        """The shuffling generator's state (saved at an epoch start for exact resume)."""
        return {"generator": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the shuffling generator saved by :meth:`state_dict`."""
        self._generator.set_state(state["generator"])

    def __iter__(self) -> Iterator[TensorBatch]:
        order = torch.randperm(self.num_examples, generator=self._generator) if self.shuffle else None
        for start in range(0, self.num_examples, self.batch_size):
            if order is None:
                rows = slice(start, start + self.batch_size)
                yield TensorBatch(self.features[rows], self.labels[rows])
            else:
                idx = order[start:start + self.batch_size]
                yield TensorBatch(self.features[idx], self.labels[idx])


@dataclass(frozen=True)
class Objective:
    """A training loss, the evaluation metrics that go with it, and how they select the best evaluation.

    `select` names the metric whose validation mean over tasks picks the reported evaluation and
    drives early stopping; `maximize` says whether higher is better.
    """

    criterion: Callable[[], nn.Module]
    metrics: Callable[[torch.Tensor, torch.Tensor], dict[str, float]]
    select: str
    maximize: bool

    def validation_value(self, row: dict[str, float], tasks: list[str]) -> float:
        """The mean over tasks of the selection metric on the validation split of a curve row."""
        return float(np.nanmean([row[_metric_name("val", self.select, t)] for t in tasks]))


OBJECTIVES: dict[str, Objective] = {
    "bce": Objective(nn.BCEWithLogitsLoss, binary_metrics, select="auc", maximize=True),
    "mse": Objective(nn.MSELoss, regression_metrics, select="rmse", maximize=False),
    "bce_ne": Objective(nn.BCEWithLogitsLoss, binary_metrics, select="ne", maximize=False),
}


def get_objective(loss: str) -> Objective:
    """The :class:`Objective` of a loss name (a clear error for an unknown one)."""
    try:
        return OBJECTIVES[loss]
    except KeyError:
        raise ConfigError(f"unknown loss {loss!r}; known: {', '.join(OBJECTIVES)}") from None


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and loop settings.

    `lr_decay` multiplies the dense learning rate after every epoch (1 = off).
    `sparse_optimizer` (``sgd``, ``rowwise_adagrad``, ``adam``) trains embedding tables with
    FBGEMM's fused optimiser at `sparse_lr` (default `lr`); None leaves them to the dense one.
    `loss` is ``"bce"`` (logits, AUC/log loss metrics, best validation AUC), ``"bce_ne"`` (the same,
    best validation NE: for studies whose quality measure is NE, such as scaling-law fits) or ``"mse"``
    (predicted values such as ratings, MSE/RMSE/MAE metrics, best validation RMSE); see :data:`OBJECTIVES`.
    `eval_every_steps` evaluates every N steps and at the end instead of after each epoch;
    `early_stopping_patience` counts evaluations without a better validation score.
    `max_steps` stops training early (smoke runs, benchmarks). `precision` ``"bf16"`` runs the
    forward pass under bfloat16 autocast (loss and optimiser stay in fp32).
    """

    epochs: int
    lr: float
    optimizer: str = "adam"
    weight_decay: float = 0.0
    lr_decay: float = 1.0
    early_stopping_patience: int | None = None
    sparse_optimizer: str | None = None
    sparse_lr: float | None = None
    eval_every_steps: int | None = None
    checkpoint_every_steps: int | None = None
    max_steps: int | None = None
    precision: str = "fp32"
    loss: str = "bce"

    def sparse_spec(self) -> SparseSpec | None:
        """The embedding optimiser, if any."""
        if self.sparse_optimizer is None:
            return None
        return SparseSpec(self.sparse_optimizer, self.sparse_lr if self.sparse_lr is not None else self.lr)


@dataclass
class FitResult:
    """Metrics of the selected (best-validation) evaluation, the last one's, and the curve.

    `step_ms` is the mean per-step time split (data, forward, backward, optimizer, total);
    `step_losses` the training loss of every step (averaged over ranks).
    """

    metrics: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    wall_time_s: float = 0.0
    examples_per_s: float = 0.0
    best_step: int = 0
    step_ms: dict[str, float] = field(default_factory=dict)
    step_losses: list[float] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that a run is repeatable bit for bit on CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _as_matrix(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


def _metric_name(split: str, metric: str, task: str) -> str:
    return f"{split}_{metric}_{task}" if task else f"{split}_{metric}"


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    raise ValueError(f"unknown precision {precision!r}; known: fp32, bf16")


@torch.no_grad()
def evaluate(model: nn.Module, batches: BatchSource, tasks: list[str], split: str,
             device: torch.device, precision: str = "fp32", loss: str = "bce") -> dict[str, float]:
    """Metrics of `loss`'s objective for `model` on every batch of `batches`, per task, named
    ``<split>_<metric>_<task>``.

    Under torchrun every rank evaluates its shard and the outputs of all ranks are gathered.
    """
    metrics = get_objective(loss).metrics
    model.eval()
    outputs, labels = [], []
    for batch in batches:
        batch = batch.to(device)
        with _autocast(device, precision):
            out = model(batch)
        outputs.append(_as_matrix(out).float().cpu())
        labels.append(_as_matrix(batch.labels).float().cpu())
    all_outputs, all_labels = all_gather_cat(torch.cat(outputs)), all_gather_cat(torch.cat(labels))
    result: dict[str, float] = {}
    for t, task in enumerate(tasks):
        for metric, value in metrics(all_outputs[:, t], all_labels[:, t]).items():
            result[_metric_name(split, metric, task)] = value
    return result


@dataclass
class _LoopState:
    """The loop's bookkeeping, saved in every checkpoint."""

    epoch: int = 0
    step: int = 0
    step_in_epoch: int = 0
    loss_sum: float = 0.0
    loss_steps: int = 0
    best_score: float = -float("inf")
    best: dict[str, float] = field(default_factory=dict)
    stale: int = 0
    stopped: bool = False
    curve: list[dict[str, float]] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    phase_totals: dict[str, float] = field(default_factory=dict)
    timed_steps: int = 0
    examples: int = 0
    epoch_loader_state: Any = None


def _take_or_build_optimizers(model: nn.Module, config: TrainConfig, device: torch.device,
                              optimizers: Optimizers | None) -> tuple[nn.Module, Optimizers]:
    """The caller's prebuilt `optimizers`, or those `config` names (see :func:`build_optimizers`)."""
    if optimizers is None:
        return build_optimizers(model, config.optimizer, config.lr, config.weight_decay, config.sparse_spec(), device)
    if config.sparse_optimizer is not None:
        raise ConfigError(f"sparse_optimizer {config.sparse_optimizer!r} is set but prebuilt optimizers were "
                          "passed too; give the tables' optimizer one way only")
    return model, optimizers


class _Loop:
    """One training run: model, optimisers, schedule, state; steps, evaluates, checkpoints."""

    def __init__(self, model: nn.Module, train: BatchSource, eval_splits: Mapping[str, BatchSource],
                 tasks: list[str], config: TrainConfig, device: torch.device, progress: Progress,
                 checkpoint_dir: Path | None, optimizers: Optimizers | None) -> None:
        self.train, self.eval_splits, self.tasks, self.config = train, eval_splits, tasks, config
        self.device, self.progress, self.checkpoint_dir = device, progress, checkpoint_dir
        self.rank, self.world = rank_and_world()
        self.objective = get_objective(config.loss)
        model.to(device)
        self.model, self.optimizers = _take_or_build_optimizers(model, config, device, optimizers)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizers.dense, gamma=config.lr_decay)
        self.loss_fn = self.objective.criterion()
        self.timer = StepTimer(device)
        self.state = _LoopState()

    # ------------------------------------------------------------------ checkpoints
    def _rank_tag(self) -> int | None:
        return self.rank if self.world > 1 else None

    def save(self) -> None:
        """Write an atomic checkpoint of everything the next step depends on."""
        assert self.checkpoint_dir is not None
        self.state.phase_totals = {**self.timer.totals, "cpu": self.timer.cpu_seconds}
        self.state.timed_steps = self.timer.steps
        payload = {"model": self.model.state_dict(), "optimizers": self.optimizers.state_dict(),
                   "scheduler": self.scheduler.state_dict(), "rng": ckpt.rng_state(),
                   "loop": asdict(self.state)}
        ckpt.save_checkpoint(self.checkpoint_dir, self.state.step, payload, rank=self._rank_tag(),
                             keep=1 if self.world == 1 else 2)

    def restore(self) -> bool:
        """Load the newest checkpoint in the checkpoint folder, if any; True when resumed.

        Under torchrun every rank loads the newest step that all ranks have saved (a kill during
        a save can leave one rank a checkpoint ahead; two are kept per rank).
        """
        step = agree_on_min(ckpt.latest_step(self.checkpoint_dir, rank=self._rank_tag()))
        if step < 0:
            return False
        path = ckpt.checkpoint_path(self.checkpoint_dir, step, rank=self._rank_tag())  # type: ignore[arg-type]
        payload = ckpt.load_checkpoint(path)
        self.model.load_state_dict(payload["model"])
        self.optimizers.load_state_dict(payload["optimizers"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.state = _LoopState(**payload["loop"])
        totals = dict(self.state.phase_totals)
        self.timer.cpu_seconds = totals.pop("cpu", 0.0)
        self.timer.totals.update(totals)
        self.timer.steps = self.state.timed_steps
        if self.state.epoch_loader_state is not None:
            self.train.load_state_dict(self.state.epoch_loader_state)  # type: ignore[attr-defined]
        ckpt.set_rng_state(payload["rng"])
        self.progress.log(f"resumed from {path.name} (step {self.state.step})")
        return True

    # ------------------------------------------------------------------ training
    def _epoch_batches(self) -> Iterator[Batch]:
        """This epoch's batches, skipping those a resumed run already trained on.

        A loader with ``set_epoch`` (the Criteo loader) derives its order from (seed, epoch); one
        with ``state_dict`` (a shuffling generator) is saved at the epoch start and restored.
        """
        if hasattr(self.train, "set_epoch"):
            self.train.set_epoch(self.state.epoch)
        if self.state.step_in_epoch == 0 and hasattr(self.train, "state_dict"):
            self.state.epoch_loader_state = self.train.state_dict()
        return itertools.islice(iter(self.train), self.state.step_in_epoch, None)

    def _step(self, batch: Batch) -> None:
        timer = self.timer
        batch = batch.to(self.device, non_blocking=True)
        timer.mark("data")
        self.model.train()
        with _autocast(self.device, self.config.precision):
            out = self.model(batch)
        outputs = _as_matrix(out).float()
        labels = _as_matrix(batch.labels).to(outputs.dtype)
        loss = sum(self.loss_fn(outputs[:, t], labels[:, t]) for t in range(len(self.tasks)))
        timer.mark("forward")
        loss.backward()
        timer.mark("backward")
        self.optimizers.step()
        self.optimizers.zero_grad()
        timer.mark("optimizer")
        value = global_mean(float(loss.detach()))
        s = self.state
        s.step_losses.append(value)
        s.loss_sum, s.loss_steps = s.loss_sum + value, s.loss_steps + 1
        s.step, s.step_in_epoch = s.step + 1, s.step_in_epoch + 1
        s.examples += int(batch.labels.shape[0]) * self.world

    def _evaluate(self) -> None:
        s = self.state
        row: dict[str, float] = {"epoch": s.epoch + (1 if s.step_in_epoch else 0), "step": s.step,
                                 "train_loss": s.loss_sum / max(s.loss_steps, 1)}
        for split, batches in self.eval_splits.items():
            row.update(evaluate(self.model, batches, self.tasks, split, self.device, self.config.precision,
                                self.config.loss))
        s.curve.append(row)
        s.loss_sum, s.loss_steps = 0.0, 0
        value = self.objective.validation_value(row, self.tasks)
        score = value if self.objective.maximize else -value
        self.progress.update(int(row["epoch"]), s.examples / max(self.timer.seconds(), 1e-9),
                             f"step {s.step} val {self.objective.select.upper()} {value:.4f}")
        if score > s.best_score:
            s.best_score, s.best, s.stale = score, row, 0
        else:
            s.stale += 1
            patience = self.config.early_stopping_patience
            s.stopped = patience is not None and s.stale >= patience

    def run(self) -> FitResult:
        """Train to the end (or early stop), evaluating and checkpointing on schedule."""
        config, s = self.config, self.state
        started = time.perf_counter() - s.train_seconds
        while s.epoch < config.epochs and not s.stopped and not self._reached_max_steps():
            self.timer.start()
            for batch in self._epoch_batches():
                self._step(batch)
                if config.eval_every_steps and s.step % config.eval_every_steps == 0:
                    self._evaluate()
                if s.stopped or self._reached_max_steps():
                    break
                if self.checkpoint_dir and config.checkpoint_every_steps \
                        and s.step % config.checkpoint_every_steps == 0:
                    s.train_seconds = time.perf_counter() - started
                    self.save()
                self.timer.start()
            else:
                s.epoch, s.step_in_epoch = s.epoch + 1, 0
                s.epoch_loader_state = None
                self.scheduler.step()
                if not config.eval_every_steps:
                    self._evaluate()
        if not s.curve or s.curve[-1]["step"] != s.step:
            self._evaluate()
        return self._result(time.perf_counter() - started)

    def _reached_max_steps(self) -> bool:
        return self.config.max_steps is not None and self.state.step >= self.config.max_steps

    def _result(self, wall_time_s: float) -> FitResult:
        s = self.state
        skip = ("epoch", "step", "train_loss")
        metrics = {k: v for k, v in s.best.items() if k not in skip}
        metrics.update({f"final_{k}": v for k, v in s.curve[-1].items() if k not in skip})
        metrics["best_epoch"] = float(s.best.get("epoch", 0))
        metrics["best_step"] = float(s.best.get("step", 0))
        return FitResult(metrics=metrics, curve=s.curve, best_epoch=int(s.best.get("epoch", 0)),
                         best_step=int(s.best.get("step", 0)), wall_time_s=wall_time_s,
                         examples_per_s=s.examples / max(self.timer.seconds(), 1e-9),
                         step_ms=self.timer.ms_per_step(), step_losses=s.step_losses)


def fit(model: nn.Module, train: BatchSource, eval_splits: Mapping[str, BatchSource], tasks: list[str],
        config: TrainConfig, device: torch.device | str = "cpu",
        progress: Progress | None = None, checkpoint_dir: Path | None = None,
        optimizers: Optimizers | None = None) -> FitResult:
    """Train `model`; return the best-validation and final metrics, the curve and the cost.

    The model is trained with the sum of per-task losses of ``config.loss`` (equal task weights,
    as in AdaTT Sec. 4.1). `eval_splits` must contain ``"val"``. `optimizers`, if given, replace
    the ones `config` would build (``optimizer``, ``lr``, ``weight_decay`` are then unused and
    ``sparse_optimizer`` must be None); they must cover `model`'s parameters on `device`, and
    ``config.lr_decay`` still schedules their dense part. They are checkpointed like built ones.
    With `checkpoint_dir`, training resumes from the newest checkpoint there, and a finished run
    leaves ``result.json`` there so that calling `fit` again returns it without training (the
    runner's ``--resume``).
    """
    if "val" not in eval_splits:
        raise ValueError("eval_splits needs a 'val' split to select the best evaluation")
    device = torch.device(device)
    progress = progress or NullProgress()
    if checkpoint_dir is not None and (checkpoint_dir / "result.json").exists():
        progress.log(f"{checkpoint_dir.name}: finished before, reusing its result")
        return FitResult(**json.loads((checkpoint_dir / "result.json").read_text()))
    loop = _Loop(model, train, eval_splits, tasks, config, device, progress, checkpoint_dir, optimizers)
    if checkpoint_dir is not None:
        loop.restore()
    result = loop.run()
    if checkpoint_dir is not None and loop.rank == 0:
        write_json(checkpoint_dir / "result.json", asdict(result))
        for path in checkpoint_dir.glob("step-*.pt"):
            path.unlink()
    return result


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters of `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe(model: nn.Module) -> dict[str, Any]:
    """A short JSON-ready description of `model` for the run record."""
    return {"class": type(model).__name__, "params": count_parameters(model)}
