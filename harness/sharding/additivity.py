"""Is a fused shard's cost the sum of its tables' costs? (prerequisite of the cost-model claims)

AutoShard, DreamShard and NeuroShard learn a *shard* cost model because a fused kernel's cost is
not the sum of its tables' (spec section 0 and pitfall 12.3). This measures, for groups of tables,
``gap = (sum of single-table costs - fused cost) / fused cost`` (positive: fusion saves time;
negative: fusion costs more) with any oracle that times one shard (``shard_phases``), e.g.
:class:`~harness.sharding.oracle_tbe.MeasuredTBEOracle`. The AutoShard spec declares the cost-model
claims inconclusive when the mean |gap| is below 5%.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from harness.sharding.tables import Table

NEAR_ADDITIVE = 0.05


class ShardTimer(Protocol):
    """Anything that costs one fused shard: ``(forward ms, backward ms)``."""

    def shard_phases(self, tables: "list[Table]") -> tuple[float, float]: ...


@dataclass(frozen=True)
class AdditivityRow:
    """One group: its tables, fused cost, sum of single costs and the relative gap."""

    raw_ids: tuple[int, ...]
    fused_ms: float
    sum_of_singles_ms: float
    fused_forward_ms: float = float("nan")
    sum_of_singles_forward_ms: float = float("nan")

    @property
    def gap(self) -> float:
        """``(sum of singles - fused) / fused`` of forward + backward."""
        return (self.sum_of_singles_ms - self.fused_ms) / self.fused_ms

    @property
    def forward_gap(self) -> float:
        """The same gap for the forward pass alone."""
        return (self.sum_of_singles_forward_ms - self.fused_forward_ms) / self.fused_forward_ms


@dataclass(frozen=True)
class AdditivityReport:
    """All groups, the mean gap and the mean absolute gap, and the machine's load while measuring."""

    rows: tuple[AdditivityRow, ...]
    load_average: float = float("nan")  # 1-minute load average at the end of the measurement

    @property
    def mean_gap(self) -> float:
        """Mean signed gap over the groups."""
        return float(np.mean([r.gap for r in self.rows]))

    @property
    def mean_forward_gap(self) -> float:
        """Mean signed gap of the forward pass alone."""
        return float(np.mean([r.forward_gap for r in self.rows]))

    @property
    def mean_abs_gap(self) -> float:
        """Mean |gap|; below :data:`NEAR_ADDITIVE` the cost is called near-additive."""
        return float(np.mean([abs(r.gap) for r in self.rows]))

    def summary(self) -> str:
        """One line per group and the means."""
        lines = [f"group {list(r.raw_ids)}: fused {r.fused_ms:.3f} ms, sum of singles {r.sum_of_singles_ms:.3f} ms, "
                 f"gap {100 * r.gap:+.1f}% (forward alone {100 * r.forward_gap:+.1f}%)" for r in self.rows]
        lines.append(f"mean gap {100 * self.mean_gap:+.1f}% (forward alone {100 * self.mean_forward_gap:+.1f}%), "
                     f"mean |gap| {100 * self.mean_abs_gap:.1f}% "
                     f"({'near-additive' if self.mean_abs_gap < NEAR_ADDITIVE else 'non-additive'}, threshold 5%); "
                     f"load average {self.load_average:.1f}")
        return "\n".join(lines)


def random_groups(num_pool_tables: int, group_sizes: "list[int]", seed: int = 0) -> list[list[int]]:
    """Groups of distinct pool ids, one group per requested size."""
    rng = np.random.default_rng(seed)
    return [sorted(int(i) for i in rng.choice(num_pool_tables, size=k, replace=False)) for k in group_sizes]


def measure_additivity(timer: ShardTimer, groups: "list[list[Table]]", rounds: int = 1,
                       progress: Callable[[str], None] | None = None) -> AdditivityReport:
    """Fused cost of each group against the sum of its tables' single costs (forward + backward).

    With ``rounds > 1`` (and a timer that does not cache) the fused shard and its singles are timed
    alternately `rounds` times and each side's median is kept, so that a change of the machine's
    load during the measurement hits both sides alike.
    """
    rows = []
    for group in groups:
        fused_runs, single_runs = [], []
        for _ in range(rounds):
            fused_runs.append(timer.shard_phases(list(group)))
            single_runs.append(np.sum([timer.shard_phases([t]) for t in group], axis=0))
        fused, singles = np.median(fused_runs, axis=0), np.median(single_runs, axis=0)
        rows.append(AdditivityRow(tuple(t.raw_id for t in group), float(fused.sum()), float(singles.sum()),
                                  float(fused[0]), float(singles[0])))
        if progress is not None:
            progress(f"{len(rows)}/{len(groups)} groups: gap {100 * rows[-1].gap:+.1f}%")
    return AdditivityReport(tuple(rows), os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"))


def fused_tbe_additivity(num_pool_tables: int = 64, group_sizes: "tuple[int, ...]" = (2, 4, 8, 16, 2, 4, 8, 16),
                         dims: "tuple[int, ...]" = (16, 32, 64), batch_size: int = 4096, row_cap: int = 200_000,
                         protocol_name: str = "dreamshard", seed: int = 0, rounds: int = 3,
                         progress: Callable[[str], None] | None = None) -> AdditivityReport:
    """Non-additivity of fbgemm's fused CPU TBE on synthetic dlrm-like tables (spec pitfall 12.3).

    Random groups of distinct tables from a :class:`~harness.sharding.generator.SyntheticTables`
    pool (dims drawn from `dims`), each timed fused and table by table with the protocol's warm-up,
    iterations and statistic on one pinned thread, fused and singles alternately over `rounds`.
    """
    from harness.sharding.generator import SyntheticTables
    from harness.sharding.oracle_tbe import MeasuredTBEOracle
    from harness.sharding.protocols import get_protocol

    protocol = get_protocol(protocol_name)
    pool = SyntheticTables(num_pool_tables, seed=seed, feature_batch=batch_size)
    table_dims = [int(d) for d in np.random.default_rng(seed).choice(dims, num_pool_tables)]
    tables = pool.tables(table_dims, truncate_pooling=protocol.int_pooling_factor)
    oracle = MeasuredTBEOracle(pool, protocol, batch_size=batch_size, row_cap=row_cap, comm=None, use_cache=False)
    groups = [[tables[i] for i in g] for g in random_groups(num_pool_tables, list(group_sizes), seed)]
    return measure_additivity(oracle, groups, rounds, progress)


if __name__ == "__main__":
    print(fused_tbe_additivity(progress=lambda m: print(m, flush=True)).summary())
