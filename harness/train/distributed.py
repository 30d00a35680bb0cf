"""Scale-out on torch.distributed and TorchRec: process groups, DistributedModelParallel, batch shards.

The runner launches ``python -m torch.distributed.run --nproc-per-node N ...`` (torchrun) on the
same command; torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` for every worker. A paper then calls, in this order:

1. :func:`init_from_env` — joins the process group (gloo on CPU, nccl on CUDA) and returns the
   rank, world size and the worker's device; without torchrun it returns a one-process world.
   Data preparation that writes a shared cache goes inside :func:`main_first`.
2. :func:`shard_model` — applies FBGEMM's fused optimiser to every embedding table
   (``apply_optimizer_in_backward``), asks TorchRec's planner for a sharding plan and wraps the
   model in ``DistributedModelParallel`` (tables sharded, dense layers data-parallel).
3. :class:`RankShard` around each batch source — every rank trains on its slice of each
   global batch, so N processes see the same examples per step as one process.

:func:`plan_as_dict` turns the plan into JSON for the run record. The trainer uses
:func:`rank_and_world`, :func:`global_mean` and :func:`all_gather_cat` (which are no-ops in a
one-process world) to average losses and to compute metrics over all ranks.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torchrec.datasets.utils import Batch
from torchrec.distributed.model_parallel import DistributedModelParallel
from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
from torchrec.distributed.types import ShardingPlan
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from harness.train.optim import SparseSpec

@dataclass(frozen=True)
class World:
    """This worker's place in the job: rank, world size and the device it computes on."""

    rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the run record and prints progress."""
        return self.rank == 0


def init_from_env(device: str = "cpu") -> World:
    """Join the torchrun process group if the torchrun variables are set; else a one-process world.

    The backend is nccl for CUDA and gloo for CPU; on CUDA each worker takes ``cuda:LOCAL_RANK``.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return World(0, 1, torch.device(device))
    cuda = torch.device(device).type == "cuda"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    worker_device = torch.device(f"cuda:{local_rank}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(worker_device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), worker_device)


def init_single_process(device: torch.device, port: int = 29511) -> World:
    """A one-process gloo/nccl group, for running DistributedModelParallel without torchrun."""
    if not dist.is_initialized():
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(port))
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", rank=0, world_size=1)
    return World(0, 1, device)


@contextlib.contextmanager
def main_first(world: World) -> Iterator[None]:
    """Run the block on rank 0 first, then on the other ranks (e.g. building a shared data cache once)."""
    if world.size > 1 and not world.is_main:
        dist.barrier()
    yield
    if world.size > 1 and world.is_main:
        dist.barrier()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the current process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def global_mean(value: float) -> float:
    """The mean of `value` over all ranks (itself in a one-process world)."""
    _, world = rank_and_world()
    if world == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item()) / world


def agree_on_min(value: int) -> int:
    """The smallest `value` over all ranks (itself in a one-process world)."""
    _, world = rank_and_world()
    if world == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return int(tensor.item())


def all_gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` (rows may differ per rank) over all ranks, in rank order."""
    _, world = rank_and_world()
    if world == 1:
        return tensor
    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, tensor.cpu())
    return torch.cat(parts)


def _fuse_in_backward(model: nn.Module, spec: SparseSpec, world: World) -> None:
    """Attach the fused optimiser to every table, corrected for TorchRec's summed table gradients.

    Each rank's loss is a mean over its local batch; DDP averages the dense gradients over ranks,
    but the sharded tables receive the *sum* of the ranks' gradients (TorchRec's all-to-all), i.e.
    ``N`` times the one-process gradient. SGD gets its rate divided by ``N``; Adagrad, row-wise
    Adagrad and Adam are invariant to that scale except for ``eps``, which is multiplied by ``N``
    (their states grow by ``N`` and ``N^2``). Either way ``N`` ranks follow the one-process
    trajectory (tests/train/test_distributed.py).
    """
    fused_class, kwargs = spec.fused(world.device)
    if spec.name == "sgd":
        kwargs = {**kwargs, "lr": kwargs["lr"] / world.size}
    else:
        kwargs = {**kwargs, "eps": kwargs["eps"] * world.size}
    for module in model.modules():
        if isinstance(module, EmbeddingBagCollection):
            apply_optimizer_in_backward(fused_class, module.parameters(), kwargs)


def shard_model(model: nn.Module, spec: SparseSpec, world: World,
                batch_size: int | None = None) -> tuple[DistributedModelParallel, ShardingPlan]:
    """Wrap `model` in DistributedModelParallel with fused embedding optimisers and a planned sharding.

    The model's weights are kept (the sharded tables are loaded from its state dict), so a
    sharded run starts from exactly the initialisation of a one-process run with the same seed.
    """
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    _fuse_in_backward(model, spec, world)
    topology = Topology(world_size=world.size, compute_device=world.device.type)
    planner = EmbeddingShardingPlanner(topology=topology, batch_size=batch_size, debug=False)
    group = dist.GroupMember.WORLD
    assert group is not None, "call init_from_env or init_single_process first"
    plan = planner.collective_plan(model, pg=group)
    sharded = DistributedModelParallel(model, device=world.device, plan=plan)
    sharded.load_state_dict(saved, strict=True)
    return sharded, plan


def plan_as_dict(plan: ShardingPlan) -> dict[str, dict[str, dict[str, Any]]]:
    """The sharding plan as JSON: module -> table -> sharding type, kernel, ranks."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for module, tables in plan.plan.items():
        out[module] = {name: {"sharding_type": p.sharding_type, "compute_kernel": p.compute_kernel,
                              "ranks": list(p.ranks or [])}
                       for name, p in tables.items()}
    return out


def shard_rows(batch: Batch, rank: int, world: int) -> Batch:
    """Rank `rank`'s contiguous slice of a global batch (dense rows, labels and every bag).

    Slices differ by at most one row when the batch does not split evenly (a last evaluation
    batch); TorchRec's sharded lookups accept a different batch size per rank.
    """
    size = batch.labels.shape[0]
    lo, hi = rank * size // world, (rank + 1) * size // world
    kjt = batch.sparse_features
    keys, stride = kjt.keys(), kjt.stride()
    offsets = kjt.offsets()
    values = [kjt.values()[offsets[f * stride + lo]:offsets[f * stride + hi]] for f in range(len(keys))]
    lengths = kjt.lengths().view(len(keys), stride)[:, lo:hi].reshape(-1)
    sparse = KeyedJaggedTensor.from_lengths_sync(keys=keys, values=torch.cat(values), lengths=lengths)
    return Batch(dense_features=batch.dense_features[lo:hi], sparse_features=sparse, labels=batch.labels[lo:hi])


class RankShard:
    """A batch source yielding this rank's slice of each global batch of `source`.

    Every rank reads the whole global batch and keeps its slice: N processes then train on
    exactly the examples of each one-process step (the equivalence the scale-out test checks).
    """

    def __init__(self, source: Any, world: World) -> None:
        self.source, self.world = source, world

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.source:
            yield shard_rows(batch, self.world.rank, self.world.size)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped source's position state, if it has one."""
        return self.source.state_dict() if hasattr(self.source, "state_dict") else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the wrapped source's position state."""
        if hasattr(self.source, "load_state_dict"):
            self.source.load_state_dict(state)

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to the wrapped source, if it orders batches by epoch."""
        if hasattr(self.source, "set_epoch"):
            self.source.set_epoch(epoch)
