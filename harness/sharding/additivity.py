"""Is a fused shard's cost the sum of its tables' costs? (prerequisite of the cost-model claims)

AutoShard, DreamShard and NeuroShard learn a *shard* cost model because a fused kernel's cost is
not the sum of its tables' (spec section 0 and pitfall 12.3). This measures, for groups of tables,
``gap = (sum of single-table costs - fused cost) / fused cost`` (positive: fusion saves time;
negative: fusion costs more) with any oracle that times one shard (``shard_phases``), e.g.
:class:`~harness.sharding.oracle_tbe.MeasuredTBEOracle`. The AutoShard spec declares the cost-model
claims inconclusive when the mean |gap| is below 5%.
"""

from __future__ import annotations

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

    @property
    def gap(self) -> float:
        """``(sum of singles - fused) / fused``."""
        return (self.sum_of_singles_ms - self.fused_ms) / self.fused_ms


@dataclass(frozen=True)
class AdditivityReport:
    """All groups, the mean gap and the mean absolute gap."""

    rows: tuple[AdditivityRow, ...]

    @property
    def mean_gap(self) -> float:
        """Mean signed gap over the groups."""
        return float(np.mean([r.gap for r in self.rows]))

    @property
    def mean_abs_gap(self) -> float:
        """Mean |gap|; below :data:`NEAR_ADDITIVE` the cost is called near-additive."""
        return float(np.mean([abs(r.gap) for r in self.rows]))

    def summary(self) -> str:
        """One line per group and the means."""
        lines = [f"group {list(r.raw_ids)}: fused {r.fused_ms:.3f} ms, sum of singles {r.sum_of_singles_ms:.3f} ms, "
                 f"gap {100 * r.gap:+.1f}%" for r in self.rows]
        lines.append(f"mean gap {100 * self.mean_gap:+.1f}%, mean |gap| {100 * self.mean_abs_gap:.1f}% "
                     f"({'near-additive' if self.mean_abs_gap < NEAR_ADDITIVE else 'non-additive'}, threshold 5%)")
        return "\n".join(lines)


def random_groups(num_pool_tables: int, group_sizes: "list[int]", seed: int = 0) -> list[list[int]]:
    """Groups of distinct pool ids, one group per requested size."""
    rng = np.random.default_rng(seed)
    return [sorted(int(i) for i in rng.choice(num_pool_tables, size=k, replace=False)) for k in group_sizes]


def measure_additivity(timer: ShardTimer, groups: "list[list[Table]]",
                       progress: Callable[[str], None] | None = None) -> AdditivityReport:
    """Fused cost of each group against the sum of its tables' single costs (forward + backward)."""
    rows = []
    for group in groups:
        fused = sum(timer.shard_phases(list(group)))
        singles = sum(sum(timer.shard_phases([t])) for t in group)
        rows.append(AdditivityRow(tuple(t.raw_id for t in group), fused, singles))
        if progress is not None:
            progress(f"{len(rows)}/{len(groups)} groups: gap {100 * rows[-1].gap:+.1f}%")
    return AdditivityReport(tuple(rows))
