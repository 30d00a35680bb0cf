"""Sharding results as per-task runs: each seed of a run is one sharding task.

The sharding papers compare methods task by task on one benchmark (100 tasks in NeuroShard, 50
in DreamShard), so the unit a claim is paired over is the task: a run's seed ``s`` is task ``s``
of the benchmark's task stream, and a paired claim compares two methods over the tasks. This turns
the rows of :func:`harness.sharding.evaluate.evaluate_methods` (one per task and method) into
:class:`~harness.experiment.SeedRun` s:

* ``oom``: 1 when the method gave no plan within memory on the task (no plan, the official
  overflow quirk, or a device over its cap), else 0; recorded on every task, so OOMs are counted;
* ``cost_ms`` and ``balance``: only on the tasks where every method of `paired` has a valid plan
  (a task one of them fails is left out of every cost comparison, as ``paired_improvement`` skips
  it), so that the paired claims see the same tasks on both sides;
* ``planning_s``: the method's planning time on the task.

:func:`with_best_baseline` adds the per-task best of a set of baselines as one more method.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import pandas as pd

from harness.experiment import SeedRun

BEST_BASELINE = "best_baseline"


def with_best_baseline(rows: pd.DataFrame, baselines: Sequence[str], name: str = BEST_BASELINE) -> pd.DataFrame:
    """`rows` plus, per task, a row `name` holding the cheapest valid baseline (column ``source``: which).

    The choice is made after scoring, per task (DreamShard's "strongest baseline"); with timing
    noise it favours the baseline side (the minimum of noisy costs is biased low).
    """
    subset = rows[rows["method"].isin(list(baselines))]
    best = []
    for task, group in subset.groupby("task", sort=True):
        valid = group[group["valid"]]
        if valid.empty:
            best.append({"task": task, "method": name, "cost_ms": math.inf, "balance": 0.0, "valid": False,
                         "reason": "no baseline has a valid plan", "overflow_quirk": False,
                         "planning_s": float(group["planning_s"].sum()), "source": ""})
            continue
        winner = valid.loc[valid["cost_ms"].idxmin()]
        best.append({**winner.to_dict(), "method": name, "source": winner["method"],
                     "planning_s": float(group["planning_s"].sum())})
    return pd.concat([rows, pd.DataFrame(best)], ignore_index=True)


def task_runs(rows: pd.DataFrame, seeds: Sequence[int], paired: Sequence[str],
              extra: Mapping[tuple[int, str], Mapping[str, float]] | None = None,
              config: Mapping[int, Mapping[str, Any]] | None = None) -> list[SeedRun]:
    """One :class:`SeedRun` per (task, method): seed ``seeds[task]``, metrics of the module docstring.

    `extra` adds metrics per ``(task, model)`` (a model may be a method or another name, e.g. a
    cost model's accuracy on the task); `config` goes into every run of a task.
    """
    runs: list[SeedRun] = []
    extra = extra or {}
    config = config or {}
    for task, group in rows.groupby("task", sort=True):
        by_method = {r["method"]: r for r in group.to_dict("records")}
        missing = [m for m in paired if m not in by_method]
        if missing:
            raise ValueError(f"task {task}: no result for the paired methods {missing}")
        comparable = all(bool(by_method[m]["valid"]) for m in paired)
        for method, row in by_method.items():
            metrics = {"oom": 0.0 if row["valid"] else 1.0, "planning_s": float(row["planning_s"])}
            if comparable and row["valid"]:
                metrics.update(cost_ms=float(row["cost_ms"]), balance=float(row["balance"]))
            metrics.update(extra.get((int(task), method), {}))
            runs.append(SeedRun(model=method, seed=int(seeds[int(task)]), metrics=metrics,
                                wall_time_s=float(row["planning_s"]), config=dict(config.get(int(task), {}))))
        for (t, model), values in extra.items():
            if t == task and model not in by_method:
                runs.append(SeedRun(model=model, seed=int(seeds[int(task)]), metrics=dict(values),
                                    config=dict(config.get(int(task), {}))))
    return runs
