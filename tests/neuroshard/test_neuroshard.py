"""NeuroShard: the search equals the official NeurSharder, the networks' numpy copies equal the torch
modules, the pre-training draws follow the official rules, the cost model learns a non-additive cost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harness.sharding.cost import AllToAllModel
from harness.sharding.generator import SyntheticTables
from harness.sharding.oracle_surrogate import SurrogateOracle
from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.tables import Table
from papers.neuroshard.cost_models import (AdditiveCostNet, CommCostNet, ComputeCostNet, FEATURE_NAMES, ShardSamples,
                                           Standardize, predict_shards, split_indices, table_features,
                                           train_shard_model)
from papers.neuroshard.pretraining import (augmented_tables, comm_samples, draw_compute_shards, fp32_sizes,
                                           measure_shards, random_dim_greedy)
from papers.neuroshard.search import CostModels, NeuroSharder, ShardingSimulator, neuroshard

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "neuroshard" / "official_neurosharder.json"


def recipe(rng: np.random.Generator, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The fixture's deterministic weights (see its ``weights`` field)."""
    return [(rng.standard_normal((b, a)) / np.sqrt(a), rng.standard_normal(b) * 0.1) for a, b in zip(sizes[:-1], sizes[1:])]


def load(module: nn.Module, weights: list[tuple[np.ndarray, np.ndarray]]) -> None:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == len(weights)
    for layer, (w, b) in zip(linears, weights):
        layer.weight.data = torch.tensor(w, dtype=torch.float32)
        layer.bias.data = torch.tensor(b, dtype=torch.float32)


def normalizer(mean: list[float], std: list[float]) -> Standardize:
    norm = Standardize(torch.zeros(2, len(mean)))
    norm.mean, norm.std = torch.tensor(mean), torch.tensor(std)
    return norm


def fixture_case(case: dict) -> tuple[ShardingTask, CostModels]:
    tables = tuple(Table(t["raw_id"], t["row"], t["dim"], t["pooling_factor"], tuple(t["bins"])) for t in case["tables"])
    task = ShardingTask(tables, case["ndevices"], case["max_mem"], fp16=False)
    rng = np.random.default_rng(2023)
    feats = table_features(list(tables))
    compute = ComputeCostNet(Standardize(feats))
    load(compute, recipe(rng, [20, 128, 32]) + recipe(rng, [32, 64, 1]))
    forward = CommCostNet(normalizer([64.0] * 4 + [2.0] * 4, [32.0] * 4 + [2.0] * 4), 8, 4)
    load(forward, recipe(rng, [8, 128, 64, 32, 16, 4]))
    backward = CommCostNet(normalizer([64.0] * 4, [32.0] * 4), 4, 4)
    load(backward, recipe(rng, [4, 128, 64, 32, 16, 4]))
    return task, CostModels(compute, forward, backward)


def placed(task: ShardingTask, steps: list[int], shards: list[list[int]] | None) -> list[list[tuple[int, int]]] | None:
    """Per device, the sorted (raw table, width) of its pieces: a plan up to swapping identical pieces
    (tasks are drawn with replacement, and the official float32 costs break exact ties either way)."""
    if shards is None:
        return None
    plan = Plan.from_column_splits(task, steps, shards)
    return [sorted((t.raw_id, t.dim) for t in tables) for tables in plan.device_tables(task)]


def test_feature_order_is_the_official_sorted_keys() -> None:
    assert FEATURE_NAMES[:3] == ("bin_0", "bin_1", "bin_10") and FEATURE_NAMES[-3:] == ("dim", "pooling_factor", "row")
    assert len(FEATURE_NAMES) == 20


@pytest.mark.parametrize("case_index", [0, 1])
def test_search_equals_the_official_neurosharder(case_index: int) -> None:
    """Same weights, same task: the same split sequence, placement and simulated cost as the official code."""
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    case = fixture["cases"][case_index]
    task, models = fixture_case(case)
    search = fixture["search"]
    sim = ShardingSimulator(models, task)
    sharder = NeuroSharder(sim, search["k"], search["n"], search["max_length"], search["search_steps"])
    np.testing.assert_allclose(sharder.single, case["expected"]["single_compute"], rtol=1e-4, atol=1e-5)
    steps, shards, cost = sharder.shard()
    assert steps == case["expected"]["steps"]
    assert placed(task, steps, shards) == placed(task, steps, case["expected"]["shards"])
    table_wise, _ = NeuroSharder(ShardingSimulator(models, task), search["k"], search["n"], 0,
                                 search["search_steps"]).table_wise_shard()
    assert placed(task, [], table_wise) == placed(task, [], case["expected"]["table_wise_shards"])
    result = neuroshard(task, models, search["k"], search["n"], search["max_length"], search["search_steps"])
    if shards is None:  # the official search found no placement within memory: neither does ours
        assert result.plan is None and cost == float("inf")
        return
    assert cost == pytest.approx(case["expected"]["cost"], rel=1e-4, abs=1e-5)
    assert result.plan is not None and placed(task, steps, result.plan.partitions()) == placed(task, steps, shards)
    assert sim.plan_cost(result.plan) == pytest.approx(cost, rel=1e-6)


def test_numpy_copies_equal_the_torch_networks() -> None:
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    task, models = fixture_case(fixture["cases"][0])
    sim = ShardingSimulator(models, task)
    shards = [[0, 1, 2], [3], list(range(4, 12))]
    pieces = [(i, t.dim) for i, t in enumerate(task.tables)]
    emb = sim.embeddings(pieces)
    ours = sim.compute(np.stack([emb[s].sum(axis=0) for s in shards]))
    theirs = predict_shards(models.compute, table_features(list(task.tables)), shards)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    x = torch.tensor([[40.0, 100.0, 70.0, 8.0, 0.0, 3.0, 1.0, 2.0]])
    np.testing.assert_allclose(sim.forward_comm(x.numpy().astype(np.float64)), models.forward_comm(x).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_compute_shards_follow_the_official_draw() -> None:
    pool = SyntheticTables(10, seed=0, feature_batch=256).tables(16, truncate_pooling=False)
    aug = augmented_tables(pool, [128, 64, 4])
    assert len(aug) == 30 and aug[13].raw_id == 3 and aug[13].dim == 64
    sizes = fp32_sizes(aug)
    shards = draw_compute_shards(sizes, 200, max_tables=5, max_mem_gb=0.05, rng=np.random.RandomState(0))
    assert all(1 <= len(s) <= 5 for s in shards)
    assert all(sum(sizes[i] for i in s) <= 0.05 for s in shards)
    assert {len(s) for s in shards} == {1, 2, 3, 4, 5}


def test_random_dim_greedy_and_comm_targets() -> None:
    rng = np.random.RandomState(0)
    sums = random_dim_greedy([128, 64, 64, 32, 4], 0.0, 2, rng)
    assert sums == [160, 132]  # no randomness: descending dims, each to the least loaded device (ties: the first)
    samples = comm_samples(AllToAllModel(), 4, 2048, 50, [128, 64, 32], (10, 20), (1, 20), np.random.RandomState(1))
    assert samples.dims.shape == (50, 4) and samples.forward_inputs.shape == (50, 8)
    assert (samples.sleeps.min(dim=1).values == 0).all()
    wait = samples.sleeps.max(dim=1, keepdim=True).values - samples.sleeps
    torch.testing.assert_close(samples.forward - samples.backward, wait)


def test_compute_model_beats_the_additive_one_on_a_non_additive_cost() -> None:
    """On the surrogate (a fused shard is cheaper than its tables apart, by an exponent on the summed
    work), the summed-then-nonlinear network predicts held-out shards better than the additive one."""
    torch.manual_seed(0)
    oracle = SurrogateOracle(batch_size=2048, gamma=0.6, launch_ms=0.0, per_width_ms=0.0)
    pool = SyntheticTables(20, seed=0, feature_batch=512).tables(16, truncate_pooling=False)
    aug = augmented_tables(pool, [64, 16])
    shards = draw_compute_shards(fp32_sizes(aug), 400, max_tables=8, max_mem_gb=100.0, rng=np.random.RandomState(0))
    costs = torch.tensor(measure_shards(oracle, aug, shards), dtype=torch.float32)
    features = table_features(aug)
    samples = ShardSamples(features, tuple(shards), costs)
    splits = split_indices(len(shards), 0)
    errors = {}
    for name, net in (("compute", ComputeCostNet(Standardize(features))), ("additive", AdditiveCostNet(Standardize(features)))):
        train_shard_model(net, samples, splits, epochs=60, batch_size=32, lr=3e-3, seed=0)
        test = splits[2]
        predicted = predict_shards(net, features, [shards[i] for i in test])
        errors[name] = float(np.mean(np.abs(predicted - costs[test].numpy()) / costs[test].numpy()))
    assert errors["compute"] < errors["additive"]
    assert errors["compute"] < 0.25
