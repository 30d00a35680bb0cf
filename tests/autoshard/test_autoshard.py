"""AutoShard's network, V-trace, environment and training: equal to the official code where it can be."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.sharding.baselines import run_baseline
from harness.sharding.generator import SyntheticTables
from harness.sharding.oracle_surrogate import SurrogateOracle
from harness.sharding.plan import ShardingTask
from harness.sharding.protocols import AUTOSHARD
from papers.autoshard.features import FEATURE_NAMES, FeatureScaler
from harness.sharding.tables import Table
from harness.sharding.tasks import autoshard_tasks, build_task
from papers.autoshard.autoshard import (AutoShardNet, CostReplay, CostSample, ShardingEpisode, StepBatch, TrainConfig,
                                        learn_costs, predict_costs, rl_shard, train, vtrace)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "autoshard" / "official_net_vtrace.json"


@pytest.fixture(autouse=True)
def one_thread():
    """Small networks: one torch thread (two oversubscribe a loaded 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def official() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tiny_tasks() -> list[ShardingTask]:
    pool = SyntheticTables(24, seed=0, feature_batch=256)
    tables = pool.tables(16, truncate_pooling=True)
    specs = autoshard_tasks(24, seed=0, t_range=(6, 7), num_train=2, num_test=1, transfer=True)
    return [build_task(s, tables, AUTOSHARD, ndevices=3, max_memory_gb=1.0, pool_dims=specs.pool_dims)
            for s in (*specs.train, *specs.test)]


def test_network_equals_the_official_net(official: dict) -> None:
    data = official["net"]
    torch.manual_seed(official["init_seed"])
    net = AutoShardNet(ndevices=3)
    assert float(sum(p.detach().double().sum() for p in net.parameters())) == pytest.approx(official["param_checksum"], rel=1e-9)
    t = lambda x, dtype=torch.float32: torch.tensor(x, dtype=dtype)  # noqa: E731
    steps = StepBatch(t(data["state_table"]), t(data["state_other"]), t(data["rows"]),
                      t(data["counts"], torch.int64), t(data["actions_other"]), t(data["done"], torch.bool))
    with torch.no_grad():
        logits, baseline, core = net(steps, (t(data["state"][0]), t(data["state"][1])))
        cost = net.cost_forward(t(data["cost_rows"]), t(data["cost_counts"], torch.int64))
    torch.testing.assert_close(logits, t(data["policy_logits"]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(baseline, t(data["baseline"]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(core[0], t(data["core"][0]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cost, t(data["cost"]), rtol=1e-5, atol=1e-6)


def test_vtrace_equals_torchbeast_from_logits(official: dict) -> None:
    d = {k: torch.tensor(v) for k, v in official["vtrace"].items()}
    vs, advantages = vtrace(d["behaviour"], d["target"], d["actions"], d["discounts"], d["rewards"], d["values"],
                            d["bootstrap"])
    torch.testing.assert_close(vs, d["vs"].float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(advantages, d["pg_advantages"].float(), rtol=1e-5, atol=1e-6)


def test_features_standardise_dims_rows_pooling_and_keep_sizes_and_bins_raw(tiny_tasks: list[ShardingTask]) -> None:
    scaler = FeatureScaler.fit(tiny_tasks[:2])
    both = [t for task in tiny_tasks[:2] for t in task.tables]
    m = scaler.matrix(both, fp16=True)
    assert m.shape == (len(both), len(FEATURE_NAMES)) == (12, 21)
    np.testing.assert_allclose(m[:, :3].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(m[:, 3], [t.size_gb(True) for t in both], rtol=1e-6)
    np.testing.assert_allclose(m[:, 4:], [t.bins for t in both], rtol=1e-6)


def test_episode_sorts_by_predicted_cost_and_rewards_balance_or_memory(tiny_tasks: list[ShardingTask]) -> None:
    task = tiny_tasks[0]
    scaler = FeatureScaler.fit([task])
    torch.manual_seed(0)
    net = AutoShardNet(task.ndevices)
    oracle = SurrogateOracle(batch_size=256, comm=None)
    episode = ShardingEpisode(task, scaler, oracle)
    obs = episode.reset(net)
    predicted = predict_costs(net, [scaler.task_matrix(task)[[i]] for i in range(task.num_tables)]).tolist()
    assert [predicted[i] for i in episode.order] == sorted(predicted, reverse=True)
    assert obs.done and obs.shard_counts.tolist() == [1, 1, 1] and obs.shard_other.sum() == 0
    for k in range(task.num_tables):
        finished = episode.place(k % task.ndevices)
    assert finished
    reward, samples = episode.reward()
    latencies = oracle.evaluate(task, episode.plan()).per_device.sum(axis=1)
    assert reward == pytest.approx(latencies.min() / latencies.max())
    assert sorted(s.cost_ms for s in samples) == pytest.approx(sorted(latencies))
    tight = ShardingEpisode(ShardingTask(task.tables, task.ndevices, max_memory_gb=1e-4, fp16=True), scaler, oracle)
    tight.reset(net)
    for _ in range(task.num_tables):
        tight.place(0)
    size = sum(task.sizes_gb())
    assert tight.reward() == (pytest.approx((1e-4 - size) / 1e-4), [])


def test_cost_updates_fit_measured_shard_costs(tiny_tasks: list[ShardingTask]) -> None:
    task = tiny_tasks[0]
    scaler = FeatureScaler.fit([task])
    oracle = SurrogateOracle(batch_size=256, comm=None)
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(200):
        ids = sorted(rng.choice(task.num_tables, size=int(rng.integers(1, 4)), replace=False))
        samples.append(CostSample(scaler.task_matrix(task)[ids], sum(oracle.shard_phases([task.tables[i] for i in ids]))))
    torch.manual_seed(0)
    net = AutoShardNet(task.ndevices)
    replay = CostReplay(5000, np.random.default_rng(1))
    replay.extend(samples)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.001)
    targets = torch.tensor([s.cost_ms for s in samples])
    before = float(torch.mean((predict_costs(net, [s.features for s in samples]) - targets) ** 2))
    learn_costs(net, optimizer, replay, TrainConfig(num_cost_updates=150, cost_batch_size=64))
    after = float(torch.mean((predict_costs(net, [s.features for s in samples]) - targets) ** 2))
    assert after < 0.2 * before
    assert after < float(targets.var())  # better than the constant predictor


def test_training_runs_and_the_policy_plans_every_table(tiny_tasks: list[ShardingTask]) -> None:
    oracle = SurrogateOracle(batch_size=256, comm=None)
    config = TrainConfig(total_steps=48, batch_size=2, unroll_length=6, num_cost_updates=2, cost_batch_size=16)
    net, scaler, log = train(tiny_tasks[:2], oracle, config, seed=0)
    assert log.episodes == 8 and len(log.steps) == 4 and log.measured_shards > 0
    assert all(np.isfinite(s["total_loss"]) for s in log.steps)
    result = rl_shard(net, scaler, tiny_tasks[2])
    assert result.plan is not None and result.plan.is_table_wise() and result.planning_seconds > 0
    assert len(result.plan.allocation()) == tiny_tasks[2].num_tables and min(result.plan.allocation()) >= 0
    with pytest.raises(ValueError, match="trained for 3 devices"):
        rl_shard(net, scaler, ShardingTask(tiny_tasks[2].tables, 2, 1.0, True))


@pytest.mark.slow
def test_policy_learns_to_balance_a_simple_task() -> None:
    """With identical tables the best plan spreads them evenly; a trained policy beats random placement."""
    tables = tuple(Table(raw_id=i, row=1000, dim=16, pooling_factor=10.0, bins=(1.0,) + (0.0,) * 16) for i in range(8))
    task = ShardingTask(tables, ndevices=2, max_memory_gb=1.0, fp16=True)
    oracle = SurrogateOracle(batch_size=256, comm=None, launch_ms=0.0, per_width_ms=0.0, gamma=1.0)
    config = TrainConfig(total_steps=8 * 120, batch_size=4, unroll_length=8, num_cost_updates=5, cost_batch_size=32,
                         learning_rate=0.003)
    net, scaler, log = train([task], oracle, config, seed=0)
    plan = rl_shard(net, scaler, task).plan
    assert plan is not None
    balance = oracle.evaluate(task, plan).balance
    random_balance = np.mean([oracle.evaluate(task, run_baseline(task, "random", seed=s).plan).balance  # type: ignore[arg-type]
                              for s in range(20)])
    assert balance > random_balance


def test_prediction_accuracy_scores_a_cost_predictor() -> None:
    from harness.sharding.metrics import prediction_accuracy

    measured = [1.0, 2.0, 4.0, 8.0]
    exact = prediction_accuracy(measured, measured)
    assert exact.mse == 0 and exact.kendall_tau == pytest.approx(1.0) and exact.mean_abs_rel_error == 0
    reversed_ = prediction_accuracy(measured[::-1], measured)
    assert reversed_.kendall_tau == pytest.approx(-1.0) and reversed_.mse == pytest.approx((49 + 4 + 4 + 49) / 4)
    with pytest.raises(ValueError, match="same non-zero length"):
        prediction_accuracy([1.0], measured)
