"""NeuroShard's pre-training data: random shards costed by the oracle, random all-to-all situations.

Compute (``neuroshard/compute_bench.py`` ``benchmark_compute``): the pool is augmented with every
dimension of the protocol (each raw table once per dim, largest dim first, so augmented table ``i``
reads raw table ``i % pool``); a sample is ``randint(1, max_tables + 1)`` augmented tables drawn
with replacement, redrawn until their fp32 size is at most ``max_mem``; its target is the fused
shard's forward+backward time under the oracle.

Communication (``neuroshard/comm_bench.py`` ``benchmark_comm``): ``T ~ randint(T_range)`` tables
of random dims spread over the devices by ``random_dim_greedy`` (dims descending; each goes to a
random device with probability ``p ~ U[0, 1]``, else to the device of smallest dim sum), straggler
sleeps ``randint(0, d)`` with ``d ~ randint(sleep_range)``, shifted to a minimum of 0. The targets
come from the oracle's all-to-all model: forward = transfer + wait for the slowest sleeper (the
official "timed all-to-all minus the own sleep"), backward = transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np
import torch

from harness.sharding.cost import AllToAllModel
from harness.sharding.tables import Table, table_size_gb


class ShardOracle(Protocol):
    """An oracle that costs one fused shard (forward ms, backward ms) and models the all-to-all."""

    @property
    def comm(self) -> AllToAllModel | None: ...

    @property
    def batch_size(self) -> int: ...

    def shard_phases(self, tables: "list[Table]") -> tuple[float, float]: ...


def augmented_tables(pool: Sequence[Table], dims: Sequence[int]) -> list[Table]:
    """Every pool table at every dim, dims in the given order (official ``aug_table_configs``)."""
    return [t.with_dim(d) for d in dims for t in pool]


def draw_compute_shards(sizes_gb: Sequence[float], count: int, max_tables: int, max_mem_gb: float,
                        rng: np.random.RandomState) -> list[tuple[int, ...]]:
    """`count` random shards of augmented-table indices (official ``gen_task``)."""
    shards = []
    for _ in range(count):
        size = rng.randint(low=1, high=max_tables + 1)
        while True:
            members = rng.randint(len(sizes_gb), size=size)
            if sum(sizes_gb[i] for i in members) <= max_mem_gb:
                break
        shards.append(tuple(int(i) for i in members))
    return shards


def measure_shards(oracle: ShardOracle, tables: Sequence[Table], shards: Sequence[Sequence[int]],
                   progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Forward+backward ms of each shard under the oracle (cached by the oracle)."""
    costs = np.empty(len(shards))
    for k, shard in enumerate(shards):
        forward, backward = oracle.shard_phases([tables[i] for i in shard])
        costs[k] = forward + backward
        if progress is not None:
            progress(k + 1)
    return costs


def random_dim_greedy(dims: "Sequence[int] | np.ndarray", random_prob: float, ndevices: int, rng: np.random.RandomState) -> list[int]:
    """Per-device dim sums: dims descending, each on a random device with `random_prob`, else the least loaded."""
    sums = [0] * ndevices
    for dim in sorted(dims, reverse=True):
        device = rng.randint(ndevices) if rng.random_sample() < random_prob else int(np.argmin(sums))
        sums[device] += int(dim)
    return sums


@dataclass(frozen=True)
class CommSamples:
    """Inputs and per-device targets of the forward (dims + sleeps) and backward (dims) comm models."""

    dims: torch.Tensor  # [samples, D]
    sleeps: torch.Tensor  # [samples, D] ms
    forward: torch.Tensor  # [samples, D] ms
    backward: torch.Tensor  # [samples, D] ms

    @property
    def forward_inputs(self) -> torch.Tensor:
        """Dims then sleeps, as the official forward model reads them."""
        return torch.cat([self.dims, self.sleeps], dim=1)


def comm_samples(comm: AllToAllModel | None, ndevices: int, batch_size: int, count: int, dim_choices: Sequence[int],
                 t_range: tuple[int, int], sleep_range: tuple[int, int], rng: np.random.RandomState) -> CommSamples:
    """`count` all-to-all situations and their modelled costs (module docstring)."""
    dims, sleeps, forward, backward = [], [], [], []
    for _ in range(count):
        tables = rng.randint(t_range[0], t_range[1])
        table_dims = rng.choice(list(dim_choices), size=tables)
        sums = random_dim_greedy(table_dims, rng.random_sample(), ndevices, rng)
        spread = rng.randint(sleep_range[0], sleep_range[1])
        sleep = rng.randint(spread, size=ndevices).astype(np.float64)
        sleep -= sleep.min()
        if comm is None:
            fwd, bwd = np.zeros(ndevices), np.zeros(ndevices)
        else:
            fwd, bwd = comm.phases(sleep, sums, batch_size)
        dims.append(sums)
        sleeps.append(sleep)
        forward.append(fwd)
        backward.append(bwd)

    def tensor(rows: list) -> torch.Tensor:
        return torch.tensor(np.asarray(rows, dtype=np.float64), dtype=torch.float32)

    return CommSamples(tensor(dims), tensor(sleeps), tensor(forward), tensor(backward))


def fp32_sizes(tables: Sequence[Table]) -> list[float]:
    """Each table's fp32 size in GB (NeuroShard's ``table_size``)."""
    return [table_size_gb(t.row, t.dim, fp16=False) for t in tables]
