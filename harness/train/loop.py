"""A step loop for training procedures that the shared trainer cannot express as one loss on one model.

:func:`harness.train.trainer.fit` trains one model on one loss. Some papers' methods live *inside*
the step: compressed gradient exchange between data-parallel workers (DCT, Gupta et al. 2021),
several models distilling from each other's stale predictions (codistillation, Anil et al. 2018).
Such a paper writes its step as a function of the global batch and hands it to :func:`run_steps`,
which does what :func:`fit` does around the step: epochs (with the loader's per-epoch order),
a step budget, evaluation every few steps and at the end, progress, and the cost. The evaluation is
the paper's too (it may evaluate several models, or one with and without a mask);
:func:`predict_logits` and :func:`~harness.train.trainer.evaluate` are its building blocks.

:func:`ctr_optimizers` is the recipe these loops share for a DLRM with unfused (dense-gradient)
tables: Adam on the MLPs, Adagrad on the tables (the recipe of ``harness.data.teacher_ctr``'s
measured DLRM, with Adagrad standing in for FBGEMM's fused row-wise Adagrad because the tables'
gradients here are dense tensors that the paper's step manipulates).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from harness.errors import ConfigError
from harness.experiment import NullProgress, Progress
from harness.train.optim import Optimizers
from harness.train.trainer import Batch, BatchSource

StepFn = Callable[[Batch], float]
EvalFn = Callable[[], dict[str, float]]


@dataclass(frozen=True)
class LoopPlan:
    """How long to train and how often to evaluate: `epochs` passes, at most `max_steps` steps
    (None: no cap), an evaluation every `eval_every_steps` steps (None: after every epoch) and at the end."""

    epochs: int
    max_steps: int | None = None
    eval_every_steps: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        for name in ("max_steps", "eval_every_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1 (or unset), got {value}")


@dataclass
class LoopResult:
    """The evaluation curve (one row per evaluation: step, mean training loss since the last one, the
    evaluation's metrics), every step's loss, the steps taken, the examples seen and the wall time."""

    curve: list[dict[str, float]] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    steps: int = 0
    examples: int = 0
    wall_time_s: float = 0.0

    @property
    def final(self) -> dict[str, float]:
        """The last evaluation's metrics (without step and training loss)."""
        return {k: v for k, v in self.curve[-1].items() if k not in ("step", "epoch", "train_loss")}

    @property
    def examples_per_s(self) -> float:
        """Training throughput over the whole loop, evaluations included."""
        return self.examples / max(self.wall_time_s, 1e-9)


def run_steps(step: StepFn, train: BatchSource, plan: LoopPlan, evaluate: EvalFn,
              progress: Progress | None = None) -> LoopResult:
    """Call ``step(batch)`` on every global batch of `train` for ``plan.epochs`` passes (or
    ``plan.max_steps`` steps), evaluating on schedule; returns the curve and the cost.

    `step` returns the step's training loss; `evaluate` the metrics of the current model(s).
    A loader with ``set_epoch`` gets the epoch before each pass (its seeded order per epoch).
    """
    progress = progress or NullProgress()
    result = LoopResult()
    since: list[float] = []
    started = time.perf_counter()

    def evaluation(epoch: int) -> None:
        row = {"epoch": float(epoch), "step": float(result.steps),
               "train_loss": sum(since) / max(len(since), 1), **evaluate()}
        result.curve.append(row)
        since.clear()
        elapsed = time.perf_counter() - started
        progress.update(epoch, result.examples / max(elapsed, 1e-9), f"step {result.steps}")

    for epoch in range(plan.epochs):
        if hasattr(train, "set_epoch"):
            train.set_epoch(epoch)
        for batch in train:
            loss = step(batch)
            result.step_losses.append(loss)
            since.append(loss)
            result.steps += 1
            result.examples += int(batch.labels.shape[0])
            if plan.eval_every_steps and result.steps % plan.eval_every_steps == 0:
                evaluation(epoch + 1)
            if plan.max_steps is not None and result.steps >= plan.max_steps:
                break
        else:
            if not plan.eval_every_steps:
                evaluation(epoch + 1)
            continue
        break
    if not result.curve or result.curve[-1]["step"] != result.steps:
        evaluation(plan.epochs)
    result.wall_time_s = time.perf_counter() - started
    return result


@torch.no_grad()
def predict_logits(model: nn.Module, batches: Iterable[Any], device: torch.device | str = "cpu") -> torch.Tensor:
    """The model's logits on every batch of `batches`, in order, as one 1-D float32 CPU tensor."""
    model.eval()
    outputs = [model(batch.to(torch.device(device))).reshape(-1).float().cpu() for batch in batches]
    model.train()
    return torch.cat(outputs)


def labels_of(batches: Iterable[Any]) -> torch.Tensor:
    """The labels of every batch of `batches`, in order, as one 1-D float32 tensor."""
    return torch.cat([batch.labels.reshape(-1).float().cpu() for batch in batches])


def table_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of every TorchRec ``EmbeddingBagCollection`` in `model` (its tables)."""
    return [p for module in model.modules() if isinstance(module, EmbeddingBagCollection) for p in module.parameters()]


def dense_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of `model` outside its tables (MLPs, interaction), in registration order."""
    tables = {id(p) for p in table_parameters(model)}
    return [p for p in model.parameters() if id(p) not in tables]


def ctr_optimizers(model: nn.Module, dense_lr: float, table_lr: float) -> Optimizers:
    """Adam at `dense_lr` on the MLPs and Adagrad at `table_lr` on the (unfused, dense-gradient) tables."""
    tables = table_parameters(model)
    sparse = [torch.optim.Adagrad(tables, lr=table_lr)] if tables else []
    return Optimizers(dense=torch.optim.Adam(dense_parameters(model), lr=dense_lr), sparse=sparse)
