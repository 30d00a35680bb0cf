"""DreamShard's networks, estimated MDP and loss against the official code, and its training loop.

The golden fixture ``tests/fixtures/dreamshard_official.pt`` was produced by running
daochenzha/dreamshard @73128ed (``models.Model``, ``env.Env``, ``sharders.dreamshard``,
``training.train_rl`` with SGD at lr 1, so the parameter change is the gradient) outside the project
on nine random table configs; it holds the inputs, the initial weights and the outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.sharding.cost_data import CountingOracle
from harness.sharding.oracle_surrogate import SurrogateOracle
from harness.sharding.plan import ShardingTask
from harness.sharding.tables import Table
from papers.dreamshard.dreamshard import (DreamShardNet, EstimatedMDP, Episodes, TrainingConfig, dreamshard_shard,
                                          reinforce_loss, table_features, train_dreamshard)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dreamshard_official.pt"
# official Model parameter -> ours
NAMES = {"table_fc_0": "cost.table.0", "table_fc_1": "cost.table.2", "forward_fc_0": "cost.forward_head.0",
         "forward_fc_1": "cost.forward_head.2", "communication_fc_0": "cost.communication_head.0",
         "communication_fc_1": "cost.communication_head.2", "backward_fc_0": "cost.backward_head.0",
         "backward_fc_1": "cost.backward_head.2", "overall_fc_0": "cost.overall_head.0",
         "overall_fc_1": "cost.overall_head.2", "rl_table_fc_0": "policy.table.0", "rl_table_fc_1": "policy.table.2",
         "cost_fc_0": "policy.cost.0", "cost_fc_1": "policy.cost.2", "policy_net": "policy.head"}


@pytest.fixture(scope="module")
def official() -> dict:
    return torch.load(FIXTURE, weights_only=False)


def official_task(official: dict, max_memory_gb: float) -> ShardingTask:
    tables = []
    for i in official["table_ids"]:
        c = official["table_configs"][i]
        tables.append(Table(raw_id=i, row=c["row"], dim=c["dim"], pooling_factor=float(c["pooling_factor"]),
                            bins=tuple(c[f"bin_{j}"] for j in range(17))))
    return ShardingTask(tuple(tables), ndevices=4, max_memory_gb=max_memory_gb, fp16=True)


def official_net(official: dict) -> DreamShardNet:
    net = DreamShardNet()
    state = {}
    for key, value in official["state_dict"].items():
        module, _, kind = key.rpartition(".")
        if module != "value_net":
            state[f"{NAMES[module]}.{kind}"] = value
    net.load_state_dict(state)
    return net


def membership(shards: list[list[int]], tables: int) -> torch.Tensor:
    out = torch.zeros(len(shards), tables)
    for d, shard in enumerate(shards):
        out[d, shard] = 1.0
    return out


def test_features_equal_the_official_normalisation(official: dict) -> None:
    task = official_task(official, 5.0)
    torch.testing.assert_close(table_features(task), official["features"])
    assert np.allclose(task.sizes_gb(), official["sizes"].numpy(), rtol=0, atol=0)


def test_cost_and_policy_networks_equal_the_official_model(official: dict) -> None:
    net, features = official_net(official), official["features"]
    shards = [[0, 2, 4], [1], [], [3, 5, 6]]
    other = [[6], [0, 1], [2, 3, 4], [5]]
    mdp = EstimatedMDP(net, features, [1.0] * 7, 4, 10.0)
    identity = torch.arange(7)
    with torch.no_grad():
        latents = mdp.latents(identity)
        states = torch.stack([membership(shards, 7), membership(other, 7)])
        from papers.dreamshard.dreamshard import _device_latents
        device = _device_latents(states, latents[0], latents[1])
        kernel = net.cost.kernel_costs(device[0])
        overall = net.cost.overall_cost(device)
        logits = mdp.logits(states, latents)
    torch.testing.assert_close(kernel.T, official["kernel"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(overall, official["overall"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logits, official["logits"], rtol=1e-5, atol=1e-6)


def test_table_order_legal_actions_and_greedy_inference_equal_the_official(official: dict) -> None:
    net = official_net(official)
    task = official_task(official, official["max_memory"])
    mdp = EstimatedMDP(net, table_features(task), task.sizes_gb(), 4, task.max_memory_gb)
    assert mdp.table_order().tolist() == official["env2real"]
    result = dreamshard_shard(net, task)
    assert result.plan is not None
    assert result.plan.allocation() == official["allocation"]
    assert max(result.plan.device_sizes_gb(task)) <= task.max_memory_gb


def test_reinforce_gradient_equals_the_official_train_rl(official: dict) -> None:
    net = official_net(official)
    task = official_task(official, 10.0)
    mdp = EstimatedMDP(net, table_features(task), task.sizes_gb(), 4, task.max_memory_gb)
    order = mdp.table_order()
    assert order.tolist() == official["rl_env2real"]
    steps, returns = official["rl_steps"], official["rl_returns"]
    per_episode = len(steps) // len(returns)
    states = torch.stack([membership(plan, 7) for plan, _ in steps]).view(len(returns), per_episode, 4, 7)
    actions = torch.tensor([a for _, a in steps]).view(len(returns), per_episode)
    episodes = Episodes(order, states.transpose(0, 1), actions.T, torch.zeros(3, 7, dtype=torch.long),
                        torch.ones(3, dtype=torch.bool), torch.tensor(returns))
    net.zero_grad()
    reinforce_loss(mdp, episodes, entropy_weight=0.001).backward()
    ours = dict(net.named_parameters())
    for key, grad in official["rl_grads"].items():
        module, _, kind = key.rpartition(".")
        if module == "value_net":
            assert not grad.any()
            continue
        mine = ours[f"{NAMES[module]}.{kind}"].grad
        mine = torch.zeros_like(grad) if mine is None else mine
        torch.testing.assert_close(mine, grad, rtol=1e-4, atol=1e-6, msg=key)


def small_tasks(count: int, tables: int, seed: int, ndevices: int = 2, cap: float = 10.0) -> list[ShardingTask]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        ts = tuple(Table(raw_id=int(i), row=int(rng.integers(100, 100_000)), dim=16,
                         pooling_factor=float(rng.integers(1, 30)), bins=tuple(rng.dirichlet(np.ones(17))))
                   for i in rng.choice(100, size=tables, replace=False))
        out.append(ShardingTask(ts, ndevices, cap, True))
    return out


def test_training_measures_only_during_collection_and_respects_memory() -> None:
    tasks = small_tasks(3, 6, seed=0)
    oracle = CountingOracle(SurrogateOracle(batch_size=4096))
    config = TrainingConfig(num_iterations=2, bench_steps=3, bench_training_steps=5, batch_size=8,
                            rl_num_batches=2, rl_batch_size=4, entropy_weight=0.001, lr=5e-4)
    trained = train_dreamshard(tasks, oracle, config, seed=0)
    assert trained.oracle_plans == oracle.plans == 6 and trained.rl_oracle_plans == 0
    assert trained.samples.num_plans == 6 and trained.rl_episodes == 16
    again = train_dreamshard(tasks, CountingOracle(SurrogateOracle(batch_size=4096)), config, seed=0)
    for a, b in zip(trained.net.parameters(), again.net.parameters()):
        torch.testing.assert_close(a, b)
    tight = small_tasks(1, 6, seed=1, cap=0.0)[0]
    assert dreamshard_shard(trained.net, tight).plan is None
