"""Measured (plan, shard) samples for learned cost models, and the oracle call counter."""

from __future__ import annotations

import numpy as np
import pytest

from harness.sharding.cost_data import CostSamples, CountingOracle
from harness.sharding.oracle_surrogate import SurrogateOracle
from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.tables import Table


def task(cap: float = 10.0) -> ShardingTask:
    tables = tuple(Table(raw_id=i, row=1000 * (i + 1), dim=16, pooling_factor=float(i + 1), bins=(0.0,) * 17)
                   for i in range(5))
    return ShardingTask(tables, ndevices=3, max_memory_gb=cap, fp16=True)


def test_samples_keep_shards_phases_and_cost_of_each_plan() -> None:
    t, oracle = task(), SurrogateOracle(batch_size=1024)
    plan = Plan.from_allocation(t, [0, 0, 2, 2, 0])
    samples = CostSamples()
    sample = samples.add(7, t, plan, oracle.evaluate(t, plan))
    assert sample.shards == ((0, 1, 4), (), (2, 3)) and sample.task_id == 7
    assert sample.cost == pytest.approx(oracle.evaluate(t, plan).cost)
    shards = samples.shards()
    assert [s for _, s, _ in shards] == [(0, 1, 4), (), (2, 3)]
    assert np.allclose(shards[1][2][[0, 3]], 0.0)  # an empty device has no compute
    drawn = samples.sample_shards(np.random.default_rng(0), 50)
    assert len(drawn) == 50 and {s for _, s, _ in drawn} == {(0, 1, 4), (), (2, 3)}
    assert samples.sample_plans(np.random.default_rng(0), 3) == [sample] * 3


def test_invalid_and_column_plans_are_refused() -> None:
    t, oracle = task(cap=0.0), SurrogateOracle()
    plan = Plan.from_allocation(t, [0, 1, 2, 0, 1])
    with pytest.raises(ValueError, match="invalid plan"):
        CostSamples().add(0, t, plan, oracle.evaluate(t, plan))
    wide = task()
    split = Plan.from_column_splits(wide, [0], [[0, 5], [1, 2], [3, 4]])
    with pytest.raises(ValueError, match="table-wise"):
        CostSamples().add(0, wide, split, oracle.evaluate(wide, split))


def test_counting_oracle_counts_plans_and_device_shards() -> None:
    t = task()
    counting = CountingOracle(SurrogateOracle())
    plan = Plan.from_allocation(t, [0, 1, 2, 0, 1])
    assert counting.evaluate(t, plan).cost == SurrogateOracle().evaluate(t, plan).cost
    counting.evaluate(t, plan)
    assert (counting.plans, counting.shards) == (2, 6)
