"""The DreamShard experiment's bookkeeping: the strongest heuristic, paired per-task metrics, OOMs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.errors import ConfigError
from papers.dreamshard.experiment import best_greedy, check_params, setting_metrics
from papers.dreamshard.params import Params, Setting


def frame(costs: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"task": k, "method": m, "cost_ms": c, "valid": math.isfinite(c), "planning_s": 0.001}
            for m, values in costs.items() for k, c in enumerate(values)]
    return pd.DataFrame(rows)


def test_best_greedy_prefers_fewest_ooms_then_lowest_mean() -> None:
    data = frame({"a": [1.0, float("inf")], "b": [3.0, 3.0], "c": [2.0, 5.0]})
    assert best_greedy(data, ("a", "b", "c")) == "b"  # a has an OOM plan; b and c tie on mean, b listed first


def test_setting_metrics_pair_tasks_and_count_ooms() -> None:
    inf = float("inf")
    data = frame({"lookup_greedy": [10.0, 20.0, 10.0], "naive": [12.0, inf, 8.0],
                  "torchrec": [11.0, 22.0, inf], "dreamshard": [9.0, 22.0, 10.0]})
    metrics, best = setting_metrics(data, ("lookup_greedy", "naive"), "test")
    assert best == "lookup_greedy"
    ds = metrics["dreamshard"]
    # tasks 0 and 1 are valid for dreamshard, the best greedy and torchrec
    assert ds["paired_tasks_test"] == 2
    assert ds["cost_ms_test"] == pytest.approx(15.5)
    assert ds["rel_cost_test"] == pytest.approx((0.9 + 1.1) / 2)
    assert metrics["best_greedy"]["rel_cost_test"] == 1.0
    assert metrics["torchrec"]["rel_cost_test"] == pytest.approx((1.1 + 1.1) / 2)
    assert metrics["naive"]["oom_tasks_test"] == 1 and metrics["torchrec"]["oom_tasks_test"] == 1
    assert ds["gain_vs_best_greedy_test"] == pytest.approx((0.1 - 0.1 + 0.0) / 3)
    assert ds["wins_vs_best_greedy_test"] == pytest.approx(0.5)


def test_bad_params_are_refused_with_the_field() -> None:
    with pytest.raises(ConfigError, match="params.baselines"):
        check_params(Params(baselines=("greedy",)))
    with pytest.raises(ConfigError, match="half the pool"):
        check_params(Params(pool_tables=30, settings=(Setting(tables=20),)))
