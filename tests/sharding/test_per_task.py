"""Per-task runs of the sharding benchmark: OOMs counted on every task, costs only on the paired tasks."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.sharding.per_task import BEST_BASELINE, task_runs, with_best_baseline


def rows() -> pd.DataFrame:
    data = [  # task, method, cost, valid
        (0, "a", 10.0, True), (0, "b", 12.0, True), (0, "ours", 9.0, True),
        (1, "a", math.inf, False), (1, "b", 8.0, True), (1, "ours", 7.5, True),
        (2, "a", math.inf, False), (2, "b", math.inf, False), (2, "ours", 5.0, True),
        (3, "a", 4.0, True), (3, "b", 6.0, True), (3, "ours", math.inf, False),
    ]
    return pd.DataFrame([{"task": t, "method": m, "cost_ms": c, "balance": 0.5, "valid": v, "reason": "",
                          "overflow_quirk": False, "planning_s": 0.01} for t, m, c, v in data])


def test_best_baseline_is_the_cheapest_valid_baseline_per_task() -> None:
    table = with_best_baseline(rows(), ["a", "b"])
    best = table[table["method"] == BEST_BASELINE].set_index("task")
    assert best["cost_ms"].tolist() == [10.0, 8.0, math.inf, 4.0]
    assert best["source"].tolist() == ["a", "b", "", "a"]
    assert best["valid"].tolist() == [True, True, False, True]
    assert best["planning_s"].tolist() == pytest.approx([0.02] * 4)


def test_costs_only_on_tasks_where_every_paired_method_is_valid() -> None:
    runs = task_runs(with_best_baseline(rows(), ["a", "b"]), seeds=[10, 11, 12, 13], paired=["ours", BEST_BASELINE],
                     extra={(0, "model"): {"mare": 0.1}, (1, "ours"): {"sim_cost_ms": 3.0}}, config={0: {"tables": 4}})
    by = {(r.model, r.seed): r.metrics for r in runs}
    assert {s for (m, s), x in by.items() if m == "ours" and "cost_ms" in x} == {10, 11}  # task 2: no baseline; 3: ours OOM
    assert {s for (m, s), x in by.items() if m == BEST_BASELINE and "cost_ms" in x} == {10, 11}
    assert by[("a", 11)]["oom"] == 1.0 and "cost_ms" not in by[("a", 11)]
    assert by[("ours", 13)]["oom"] == 1.0 and by[("ours", 12)]["oom"] == 0.0
    assert by[("ours", 11)]["sim_cost_ms"] == 3.0 and by[("model", 10)] == {"mare": 0.1}
    assert [r.config for r in runs if r.seed == 10][0] == {"tables": 4}


def test_a_missing_paired_method_is_an_error() -> None:
    with pytest.raises(ValueError, match="paired methods"):
        task_runs(rows(), seeds=[0, 1, 2, 3], paired=["nope"])
