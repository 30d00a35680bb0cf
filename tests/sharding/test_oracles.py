"""The cost-oracle interface: memory cap -> invalid plan, plan cost = slowest device's sum, the
surrogate's non-additivity, the measured TBE oracle's cache, TorchRec's additive estimator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.sharding.additivity import measure_additivity
from harness.sharding.cost import AllToAllModel, PlanCost
from harness.sharding.generator import SyntheticTables
from harness.sharding.oracle_surrogate import SurrogateOracle
from harness.sharding.oracle_tbe import MeasuredTBEOracle, fused_inputs, reduce_records
from harness.sharding.oracle_torchrec import TorchRecEstimatorOracle
from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.protocols import ShardingProtocol
from harness.sharding.tables import Table

FAST = ShardingProtocol("fast", fp16_sizes=True, int_pooling_factor=True, statistic="median", warmup_iters=1,
                        timed_iters=3, ndevices=2, max_memory_gb=1.0, has_naive=True, has_size_lookup=True)


def _table(i: int, row: int = 10_000, dim: int = 16, pf: float = 8.0) -> Table:
    bins = tuple([0.5, 0.25, 0.25] + [0.0] * 14)
    return Table(raw_id=i, row=row, dim=dim, pooling_factor=pf, bins=bins)


def _task(cap: float = 1.0) -> ShardingTask:
    return ShardingTask(tuple(_table(i, row=10_000 * (i + 1), dim=16 * (1 + i % 2)) for i in range(6)),
                        ndevices=2, max_memory_gb=cap, fp16=True)


def test_plan_over_the_memory_cap_is_invalid_and_not_measured() -> None:
    task = _task(cap=0.002)  # each device would need more than 2 MB
    cost = SurrogateOracle().evaluate(task, Plan.table_wise(task, [[0, 1, 2, 3, 4], [5]]))
    assert not cost.valid and cost.cost == float("inf") and "out of memory" in cost.reason
    assert cost.balance == 0.0


def test_plan_cost_is_the_slowest_devices_sum_of_phases() -> None:
    cost = PlanCost(np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 0.5, 0.5, 0.5]]), valid=True)
    assert cost.cost == 10.0 and cost.balance == pytest.approx(6.5 / 10.0)


def test_surrogate_is_deterministic_and_not_additive() -> None:
    oracle = SurrogateOracle(batch_size=4096)
    tables = [_table(i, dim=16 * (1 + i % 2)) for i in range(4)]
    report = measure_additivity(oracle, [tables, tables[:2]])
    assert all(r.gap > 0.05 for r in report.rows)  # fusion is cheaper than the sum of singles
    task = _task()
    plan = Plan.table_wise(task, [[0, 2, 4], [1, 3, 5]])
    assert np.array_equal(oracle.evaluate(task, plan).per_device, oracle.evaluate(task, plan).per_device)


def test_forward_comm_includes_the_straggler_wait() -> None:
    comm = AllToAllModel(alpha_ms=0.0, bytes_per_ms=1e6)
    fwd_comm, bwd_comm = comm.phases(np.array([1.0, 3.0]), [16, 16], batch_size=1000)
    assert bwd_comm[0] == bwd_comm[1] == pytest.approx(1000 * 16 * 4 * 0.5 / 1e6)
    assert fwd_comm[0] - bwd_comm[0] == pytest.approx(2.0) and fwd_comm[1] == bwd_comm[1]


def test_fused_inputs_rebase_offsets_like_the_official_get_data() -> None:
    import torch
    a = (torch.tensor([1, 2, 3]), torch.tensor([0, 2, 3]))
    b = (torch.tensor([7, 8]), torch.tensor([0, 0, 2]))
    indices, offsets = fused_inputs([a, b], [100, 5])
    assert indices.tolist() == [1, 2, 3, 2, 3]  # the second table's rows capped at 5
    assert offsets.tolist() == [0, 2, 3, 3, 5]


def test_reduce_records_uses_each_protocols_statistic() -> None:
    records = [9.0, 1.0, 2.0, 3.0, 4.0, 100.0, 5.0, 6.0, 7.0, 8.0]
    assert reduce_records(records, "trimmed_mean") == pytest.approx(np.mean([3.0, 4.0, 5.0, 6.0, 7.0, 8.0]))
    assert reduce_records(records, "median") == 5.5


def test_measured_tbe_oracle_times_shards_and_caches_on_disk(tmp_path: Path) -> None:
    pool = SyntheticTables(4, seed=0, feature_batch=256)
    tables = pool.tables(16, truncate_pooling=True)
    task = ShardingTask(tuple(tables), ndevices=2, max_memory_gb=100.0, fp16=True)
    plan = Plan.table_wise(task, [[0, 1], [2, 3]])
    cache = tmp_path / "tbe.json"
    oracle = MeasuredTBEOracle(pool, FAST, batch_size=256, row_cap=2_000, cache_path=cache)
    first = oracle.evaluate(task, plan)
    assert first.valid and (first.per_device[:, [0, 3]] > 0).all() and oracle.misses == 2
    oracle.save()
    again = MeasuredTBEOracle(pool, FAST, batch_size=256, row_cap=2_000, cache_path=cache)
    second = again.evaluate(task, Plan.table_wise(task, [[1, 0], [3, 2]]))  # same shards, other order
    assert again.hits == 2 and again.misses == 0
    assert np.array_equal(first.per_device, second.per_device)
    compute_only = MeasuredTBEOracle(pool, FAST, batch_size=256, row_cap=2_000, comm=None, cache_path=cache)
    assert (compute_only.evaluate(task, plan).per_device[:, 1:3] == 0).all()


def test_torchrec_estimator_is_additive_and_positive() -> None:
    oracle = TorchRecEstimatorOracle(batch_size=4096)
    task = _task(cap=10.0)
    together = oracle.evaluate(task, Plan.table_wise(task, [[0, 1, 2, 3, 4, 5], []])).per_device[0]
    singles = sum(oracle.piece_phases([t], 2, True)[0] for t in task.tables)
    assert (together > 0).all()
    assert np.allclose(together, singles)


def test_fused_tbe_additivity_measures_every_group() -> None:
    from harness.sharding.additivity import fused_tbe_additivity

    report = fused_tbe_additivity(num_pool_tables=6, group_sizes=(2, 3), batch_size=256, row_cap=1_000, rounds=1)
    assert [len(r.raw_ids) for r in report.rows] == [2, 3]
    assert all(r.fused_ms > 0 and r.sum_of_singles_ms > 0 and np.isfinite(r.gap) for r in report.rows)
    assert "mean gap" in report.summary()


def test_paired_improvement_skips_invalid_tasks_and_brackets_the_mean() -> None:
    from harness.sharding.metrics import paired_improvement

    base = [10.0, 10.0, 10.0, 10.0, float("inf"), 8.0]
    method = [9.0, 8.0, 9.5, 10.5, 5.0, float("inf")]
    result = paired_improvement(base, method)
    assert result.tasks == 4 and result.skipped == 2
    assert result.mean == pytest.approx(np.mean([0.1, 0.2, 0.05, -0.05]))
    assert result.ci_low <= result.mean <= result.ci_high and result.max == pytest.approx(0.2)


def test_evaluate_methods_counts_out_of_memory_instead_of_skipping() -> None:
    from harness.sharding.baselines import run_baseline
    from harness.sharding.evaluate import best_baseline, cost_matrix, evaluate_methods

    tasks = [_task(cap=1.0), _task(cap=0.0055)]  # the second cap fits the greedy plans, not naive's round robin
    methods = {m: (lambda task, m=m: run_baseline(task, m)) for m in ("naive", "size_greedy", "lookup_greedy")}
    results = evaluate_methods(tasks, methods, SurrogateOracle(batch_size=4096))
    assert len(results) == 6 and results["valid"].iloc[:3].all()
    matrix = cost_matrix(results)
    assert np.isfinite(matrix.loc[0]).all()
    best = best_baseline(results, ["naive", "size_greedy", "lookup_greedy"])
    assert best[0] == matrix.loc[0].min()
    second = results[results["task"] == 1].set_index("method")
    assert not second.loc["naive", "valid"] and second.loc["naive", "cost_ms"] == float("inf")
    assert "out of memory" in second.loc["naive", "reason"]
    assert second.loc["size_greedy", "valid"] and second.loc["lookup_greedy", "valid"]
    assert best[1] == min(second.loc["size_greedy", "cost_ms"], second.loc["lookup_greedy", "cost_ms"])
