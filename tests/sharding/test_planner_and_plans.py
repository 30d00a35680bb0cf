"""TorchRec's planner gives valid plans in our format; plan conversions follow the official code."""

from __future__ import annotations

import pytest

from harness.sharding.cost import memory_violation
from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.tables import Table
from harness.sharding.torchrec_planner import torchrec_shard


def _task(cap: float, dims: tuple[int, ...] = (16, 32, 64, 128), count: int = 12) -> ShardingTask:
    tables = tuple(Table(raw_id=i, row=20_000 * (1 + i % 5), dim=dims[i % len(dims)], pooling_factor=1.0 + i,
                         bins=(0.0,) * 17) for i in range(count))
    return ShardingTask(tables, ndevices=4, max_memory_gb=cap, fp16=False)


def test_torchrec_table_wise_plan_is_valid_under_the_cap() -> None:
    task = _task(cap=1.0)
    result = torchrec_shard(task, batch_size=4096)
    assert result.plan is not None and result.plan.is_table_wise()
    assert sorted(t for shard in result.plan.shards for t in shard) == list(range(12))
    assert memory_violation(task, result.plan) == ""
    assert result.notes["sharding_types"] == ["table_wise"]


def test_torchrec_column_wise_with_a_lowered_min_partition_splits_into_pieces() -> None:
    task = _task(cap=0.1, dims=(256,), count=4)  # the largest table (80,000 x 256 fp32, 78 MB) nearly fills a device
    result = torchrec_shard(task, batch_size=4096, column_wise=True, min_partition=64)
    assert result.plan is not None
    widths: dict[int, int] = {}
    for table, width in result.plan.pieces:
        widths[table] = widths.get(table, 0) + width
    assert widths == {i: 256 for i in range(4)}
    assert not result.plan.is_table_wise() and result.notes["sharding_types"] == ["column_wise"]
    assert memory_violation(task, result.plan) == ""


def test_torchrec_without_room_returns_no_plan_and_the_reason() -> None:
    result = torchrec_shard(_task(cap=0.001), batch_size=4096)
    assert result.plan is None and result.notes["reason"]


def test_column_splits_follow_neuroshards_sharding_steps() -> None:
    task = ShardingTask(tuple(Table(i, 1000, 64, 1.0, (0.0,) * 17) for i in range(2)), 2, 1.0, fp16=False)
    plan = Plan.from_column_splits(task, [0, 2], [[0, 3], [1, 2]])  # table 0 -> 32 + 16 + 16
    assert plan.pieces == ((0, 32), (1, 64), (0, 16), (0, 16))
    assert plan.device_dims(task) == [48, 80]
    with pytest.raises(ValueError, match="exactly once"):
        Plan.table_wise(task, [[0], [0]])
