"""N data-parallel workers simulated in one process: a replica, an optimiser and a batch shard per worker.

Each worker holds its own copy of the model and of the optimiser state (so methods that let the
replicas drift, e.g. local SGD, shadow model averaging, compressed gradients with error feedback,
have somewhere to drift), trains on its contiguous slice of every global batch (the slice
:func:`harness.train.distributed.shard_rows` gives rank ``w`` of ``N``), and the "collectives" are
explicit operations over the list of replicas that record what a real collective would move into a
:class:`~harness.cluster.comm.ByteCounter`. With :meth:`VirtualWorkers.step` (gradients averaged over
the workers every step) the replicas follow synchronous data parallelism, i.e. what ``N``
torchrun processes under DDP compute (checked against a real 2-process gloo run in the tests).
This runs 4-32 "workers" on 2 cores; the real runs calibrate the costs (:mod:`.comm`).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import torch
from torch import nn

from harness.cluster.comm import ByteCounter
from harness.errors import ConfigError
from harness.train.distributed import shard_rows

LossFn = Callable[[nn.Module, Any], torch.Tensor]


def bce_loss(model: nn.Module, batch: Any) -> torch.Tensor:
    """Mean binary cross-entropy of the model's logits on a CTR batch."""
    return nn.functional.binary_cross_entropy_with_logits(model(batch), batch.labels)


def _nbytes(tensors: Sequence[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class VirtualWorkers:
    """`workers` replicas of `model` with optimisers from `make_optimizer`, and list collectives."""

    def __init__(self, model: nn.Module, workers: int, make_optimizer: Callable[[nn.Module], torch.optim.Optimizer],
                 counter: ByteCounter | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.replicas = [copy.deepcopy(model) for _ in range(workers)]
        self.optimizers = [make_optimizer(r) for r in self.replicas]
        self.counter = counter if counter is not None else ByteCounter()

    @property
    def workers(self) -> int:
        """Number of simulated workers."""
        return len(self.replicas)

    def all_reduce_mean(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        """The mean of one tensor per worker, recorded as one all-reduce of that tensor's size."""
        if len(tensors) != self.workers:
            raise ConfigError(f"an all-reduce needs one tensor per worker ({self.workers}), got {len(tensors)}")
        self.counter.record("all_reduce", _nbytes(tensors[:1]), self.workers)
        return torch.stack(tensors).mean(dim=0)

    def local_backward(self, batch: Any, loss_fn: LossFn = bce_loss) -> list[float]:
        """Every worker's forward and backward on its slice of the global `batch`; returns the local losses."""
        losses = []
        for w, replica in enumerate(self.replicas):
            loss = loss_fn(replica, shard_rows(batch, w, self.workers))
            loss.backward()
            losses.append(float(loss.detach()))
        return losses

    def average_gradients(self) -> None:
        """Replace each worker's gradients by the mean over workers (one all-reduce of all gradients)."""
        grads = [[p.grad for p in r.parameters() if p.grad is not None] for r in self.replicas]
        if any(g.is_sparse for g in grads[0]):
            raise ConfigError("virtual gradient averaging needs dense gradients; build the model with "
                              "backend='torchrec' (unfused) rather than the sparse-gradient torch backend")
        self.counter.record("all_reduce", _nbytes(grads[0]), self.workers)
        _replace_by_mean(grads)

    def average_parameters(self) -> None:
        """Model averaging: every replica's parameters become the mean over workers (one all-reduce)."""
        params = [list(r.parameters()) for r in self.replicas]
        self.counter.record("all_reduce", _nbytes(params[0]), self.workers)
        _replace_by_mean(params)

    def step(self, batch: Any, loss_fn: LossFn = bce_loss) -> float:
        """One synchronous data-parallel step on the global `batch`; returns the mean of the local losses."""
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        losses = self.local_backward(batch, loss_fn)
        self.average_gradients()
        for opt in self.optimizers:
            opt.step()
        return sum(losses) / len(losses)


def _replace_by_mean(per_worker: Sequence[Sequence[torch.Tensor]]) -> None:
    """Overwrite each worker's i-th tensor with the mean of every worker's i-th tensor (an all-reduce mean)."""
    with torch.no_grad():
        for same_tensor in zip(*per_worker):
            mean = torch.stack(same_tensor).mean(dim=0)
            for t in same_tensor:
                t.copy_(mean)
