"""Measured cost samples for learned sharding cost models: plans and their shards, as an oracle scored them.

The learned sharders (AutoShard's cost model, DreamShard's cost network, NeuroShard's pre-trained
cost models) all fit a network to ``(shard -> measured cost)`` and ``(plan -> measured cost)``
pairs collected from hardware. :class:`CostSamples` keeps them in the layout those networks read:
for each sample the task it came from, and per device the indices of the task's tables on it
(official ``Buffer.add_overall`` / ``add_kernel`` of daochenzha/dreamshard @73128ed), with the
oracle's per-device phases (forward, forward comm, backward comm, backward, ms) and the plan's
cost (the slowest device's sum). :class:`CountingOracle` counts how often a method asked the
hardware, so that "trained without hardware in the loop" is a measured count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.sharding.cost import CostOracle, PlanCost
from harness.sharding.plan import Plan, ShardingTask


@dataclass(frozen=True)
class PlanSample:
    """One measured table-wise plan: its task, the table indices per device, the phases and the cost."""

    task_id: int
    shards: tuple[tuple[int, ...], ...]
    per_device: np.ndarray  # [devices, 4] ms: forward, forward comm, backward comm, backward
    cost: float


@dataclass
class CostSamples:
    """Plans (and thereby shards) measured by an oracle, with uniform sampling for training."""

    plans: list[PlanSample] = field(default_factory=list)

    def add(self, task_id: int, task: ShardingTask, plan: Plan, measured: PlanCost) -> PlanSample:
        """Record a measured table-wise plan of task `task_id` (invalid plans carry no cost: refused)."""
        if not measured.valid:
            raise ValueError(f"an invalid plan has no measured cost ({measured.reason})")
        if not plan.is_table_wise():
            raise ValueError("cost samples hold table-wise plans (one piece per table)")
        table_of = [t for t, _ in plan.pieces]
        shards = tuple(tuple(table_of[p] for p in shard) for shard in plan.shards)
        sample = PlanSample(task_id, shards, np.asarray(measured.per_device, dtype=np.float64), measured.cost)
        self.plans.append(sample)
        return sample

    @property
    def num_plans(self) -> int:
        """How many plans were measured."""
        return len(self.plans)

    def shards(self) -> list[tuple[int, tuple[int, ...], np.ndarray]]:
        """Every measured shard as ``(task_id, table indices, phases[4])``, empty devices included."""
        return [(p.task_id, shard, p.per_device[d]) for p in self.plans for d, shard in enumerate(p.shards)]

    def sample_plans(self, rng: np.random.Generator, size: int) -> list[PlanSample]:
        """`size` plans drawn uniformly with replacement (official ``Buffer.sample_overall``)."""
        return [self.plans[i] for i in rng.integers(len(self.plans), size=size)]

    def sample_shards(self, rng: np.random.Generator, size: int) -> list[tuple[int, tuple[int, ...], np.ndarray]]:
        """`size` shards drawn uniformly with replacement (official ``Buffer.sample_kernel``)."""
        every = self.shards()
        return [every[i] for i in rng.integers(len(every), size=size)]


class CountingOracle(CostOracle):
    """Another oracle, counting the plans it scored and the device shards it measured."""

    def __init__(self, inner: CostOracle) -> None:
        self.inner = inner
        self.name = inner.name
        self.plans = 0
        self.shards = 0

    def evaluate(self, task: ShardingTask, plan: Plan) -> PlanCost:
        """The inner oracle's cost; counted."""
        self.plans += 1
        self.shards += task.ndevices
        return self.inner.evaluate(task, plan)

    def device_costs(self, task: ShardingTask, plan: Plan) -> np.ndarray:
        """The inner oracle's per-device phases."""
        return self.inner.device_costs(task, plan)
