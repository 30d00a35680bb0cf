"""Every method on every task under one independent oracle (spec pitfall 12.2), as a table.

The papers compare methods on the same tasks, OOMs counted rather than skipped (AutoShard's
evaluation aborts on the first OOM task and DreamShard's averages only the valid ones, so the
official averages run over different task sets). Each row here is one (task, method): the plan's
cost under the oracle (``inf`` when it has no plan or exceeds memory), its balance, whether the
official overflow quirk fired, and the planning time. :func:`best_baseline` picks the strongest
baseline per task after the fact, as DreamShard's "strongest baseline" does.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import pandas as pd

from harness.sharding.baselines import ShardingResult
from harness.sharding.cost import CostOracle
from harness.sharding.plan import ShardingTask

Method = Callable[[ShardingTask], ShardingResult]


def evaluate_methods(tasks: Sequence[ShardingTask], methods: Mapping[str, Method], oracle: CostOracle,
                     progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per (task, method): cost (ms, ``inf`` if invalid), balance, validity and why, overflow
    quirk, planning seconds."""
    rows = []
    for k, task in enumerate(tasks):
        for name, method in methods.items():
            result = method(task)
            if result.plan is None:
                cost, balance, valid, reason = float("inf"), 0.0, False, str(result.notes.get("reason", "no plan"))
            else:
                scored = oracle.evaluate(task, result.plan)
                cost, balance, valid, reason = scored.cost, scored.balance, scored.valid, scored.reason
            rows.append({"task": k, "method": name, "cost_ms": cost, "balance": balance, "valid": valid,
                         "reason": reason, "overflow_quirk": bool(result.overflowed),
                         "planning_s": result.planning_seconds})
        if progress is not None:
            progress(f"task {k + 1}/{len(tasks)}")
    return pd.DataFrame(rows)


def best_baseline(results: pd.DataFrame, baselines: Sequence[str]) -> pd.Series:
    """Per task, the lowest cost among `baselines` (``inf`` when none is valid)."""
    subset = results[results["method"].isin(list(baselines))]
    return subset.groupby("task")["cost_ms"].min()


def cost_matrix(results: pd.DataFrame) -> pd.DataFrame:
    """Costs as a task x method table (the paired layout of the papers' result tables)."""
    return results.pivot(index="task", columns="method", values="cost_ms")
