"""Random, naive and greedy sharders, equal to the official ``sharders.py`` functions.

The greedy family is the same in daochenzha/dreamshard @73128ed and daochenzha/neuroshard
@ec7ca74 (autoshard @e861ecb lacks ``naive`` and ``size_lookup_greedy``): tables sorted by the
tuple ``(cost, size, index)`` and popped from the end (largest cost first; ties to the larger size,
then the larger index); each goes to the device with room (``size_sum + size <= cap``) of smallest
``cost_sum``, ties to the smaller ``size_sum``, then the lower device (strict ``<`` in the loop).

Official quirk: when no device has room, ``min_r`` stays ``-1`` and ``partitions[-1]`` takes the
table: the last device silently overflows and the plan is later rejected as out of memory. With
``quirk_compat=True`` (the default, for equivalence) the quirk is reproduced and the overflowed
tables are listed in the result; with ``False`` the sharder returns an infeasible result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.tables import Table


@dataclass(frozen=True)
class ShardingResult:
    """A sharder's output: the plan (None if it found none), the quirk's overflowed tables, timing."""

    method: str
    plan: Plan | None
    overflowed: tuple[int, ...] = ()
    planning_seconds: float = 0.0
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """True when a plan exists and no table was forced onto a full device."""
        return self.plan is not None and not self.overflowed


def greedy_partitions(costs: "list[float]", sizes: "list[float]", ndevices: int, max_memory_gb: float,
                      quirk_compat: bool = True) -> tuple[list[list[int]] | None, tuple[int, ...]]:
    """The official greedy loop; returns the partitions (placement order kept) and overflowed tables."""
    order = sorted(zip(costs, sizes, range(len(costs))))
    partitions: list[list[int]] = [[] for _ in range(ndevices)]
    cost_sums = [0.0] * ndevices
    size_sums = [0.0] * ndevices
    overflowed = []
    while order:
        cost, size, index = order.pop()
        min_sum, min_size_taken, min_r = np.inf, np.inf, -1
        for r in range(ndevices):
            if size_sums[r] + size <= max_memory_gb:
                if cost_sums[r] < min_sum or (cost_sums[r] == min_sum and size_sums[r] < min_size_taken):
                    min_sum, min_r, min_size_taken = cost_sums[r], r, size_sums[r]
        if min_r == -1:
            if not quirk_compat:
                return None, (index,)
            overflowed.append(index)
        partitions[min_r].append(index)
        cost_sums[min_r] += cost
        size_sums[min_r] += size
    return partitions, tuple(overflowed)


# The greedy costs of the official sharders (per table of the task).
GREEDY_COSTS: dict[str, Callable[[Table, bool], float]] = {
    "dim_greedy": lambda t, fp16: t.dim,
    "size_greedy": lambda t, fp16: t.size_gb(fp16),
    "lookup_greedy": lambda t, fp16: t.dim * t.pooling_factor,
    "size_lookup_greedy": lambda t, fp16: t.dim * t.pooling_factor * np.log10(t.row),
}


def greedy_shard(task: ShardingTask, method: str, quirk_compat: bool = True) -> ShardingResult:
    """One of the greedy sharders (``dim``/``size``/``lookup``/``size_lookup``) on a table-wise task."""
    if method not in GREEDY_COSTS:
        raise ValueError(f"unknown greedy sharder {method!r}; choose one of {sorted(GREEDY_COSTS)}")
    start = time.perf_counter()
    costs = [GREEDY_COSTS[method](t, task.fp16) for t in task.tables]
    partitions, overflowed = greedy_partitions(costs, task.sizes_gb(), task.ndevices, task.max_memory_gb,
                                               quirk_compat)
    seconds = time.perf_counter() - start
    if partitions is None:
        return ShardingResult(method, None, overflowed, seconds, {"reason": f"table {overflowed[0]} fits on no device"})
    notes: dict[str, object] = {"official_overflow_quirk": True} if overflowed else {}
    return ShardingResult(method, Plan.table_wise(task, partitions), overflowed, seconds, notes)


def random_shard(task: ShardingTask, rng: "np.random.RandomState | int" = 0) -> ShardingResult:
    """``np.random.randint(ndevices)`` per table, no memory check (official ``random``).

    With ``rng`` an int, a fresh ``RandomState`` (the official script after ``np.random.seed``).
    """
    start = time.perf_counter()
    state = np.random.RandomState(rng) if isinstance(rng, (int, np.integer)) else rng
    allocation = [int(state.randint(task.ndevices)) for _ in range(task.num_tables)]
    return ShardingResult("random", Plan.from_allocation(task, allocation), planning_seconds=time.perf_counter() - start)


def naive_shard(task: ShardingTask) -> ShardingResult:
    """Table i on device ``i % ndevices`` (DreamShard's ``naive``), no memory check."""
    start = time.perf_counter()
    plan = Plan.from_allocation(task, [i % task.ndevices for i in range(task.num_tables)])
    return ShardingResult("naive", plan, planning_seconds=time.perf_counter() - start)


def baseline_names() -> list[str]:
    """Every baseline of this module by name."""
    return ["random", "naive", *GREEDY_COSTS]


def run_baseline(task: ShardingTask, method: str, seed: int = 0, quirk_compat: bool = True) -> ShardingResult:
    """The named baseline on `task` (``seed`` only matters for ``random``)."""
    if method == "random":
        return random_shard(task, seed)
    if method == "naive":
        return naive_shard(task)
    return greedy_shard(task, method, quirk_compat)
