"""A deterministic, non-additive surrogate cost: for unit tests and GPU-less ``full`` profiles.

A fused kernel amortises its launch and overlaps its tables' memory traffic, so a shard costs less
than the sum of its tables, and mixing widths breaks the kernel's specialisation. The surrogate
encodes both, per device d (spec H2, oracle 3):

``compute_d = launch + (sum_t w_t)^gamma + per_width * (#distinct widths on d)``, with
``w_t = a * B * PF_t * dim_t * (1 + kappa * (bin_0 + bin_1))`` (rows read once or twice miss the
cache). Forward is one third of it and backward two thirds (TorchRec's BWD_COMPUTE_MULTIPLIER 2);
communication comes from :class:`~harness.sharding.cost.AllToAllModel`. It is never evidence for a
paper's number; it lets tests check that a search exploits non-additivity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.sharding.cost import AllToAllModel, CostOracle, assemble
from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.tables import Table


@dataclass(frozen=True)
class SurrogateOracle(CostOracle):
    """The surrogate of the module docstring; all constants are fields (ms)."""

    batch_size: int = 65_536
    launch_ms: float = 0.05
    ms_per_element: float = 2e-7
    gamma: float = 0.9
    kappa: float = 1.0
    per_width_ms: float = 0.02
    comm: AllToAllModel | None = AllToAllModel()
    name: str = "surrogate"

    def table_work(self, table: Table) -> float:
        """``w_t`` of the module docstring (ms before the fusion exponent)."""
        miss = table.bins[0] + table.bins[1]
        return self.ms_per_element * self.batch_size * table.pooling_factor * table.dim * (1 + self.kappa * miss)

    def shard_phases(self, tables: "list[Table]") -> tuple[float, float]:
        """Forward and backward compute (ms) of one fused shard; zero for an empty shard."""
        if not tables:
            return 0.0, 0.0
        work = sum(self.table_work(t) for t in tables)
        compute = self.launch_ms + work**self.gamma + self.per_width_ms * len({t.dim for t in tables})
        return compute / 3, 2 * compute / 3

    def device_costs(self, task: ShardingTask, plan: Plan) -> np.ndarray:
        """Per device: surrogate compute phases plus the modelled all-to-all."""
        phases = np.array([self.shard_phases(tables) for tables in plan.device_tables(task)])
        return assemble(phases[:, 0], phases[:, 1], self.comm, plan.device_dims(task), self.batch_size)
