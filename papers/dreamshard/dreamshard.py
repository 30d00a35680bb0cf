"""DreamShard (Zha et al., NeurIPS 2022, arXiv 2210.02023): a cost network and a policy trained on an estimated MDP.

Read at daochenzha/dreamshard @73128ed (``models.py``, ``env.py``, ``training.py``,
``sharders.py``, ``utils.py``); equal to it on fixed weights and inputs
(``tests/dreamshard/test_dreamshard.py``, golden fixture produced by the official code).

* **Table representation** (Sec. 3.1; ``utils.load_table_configs_features_sizes``): 21 features per
  table, ``dim`` raw, ``row``, ``pooling_factor`` and ``size = dim * row`` z-normalised within the
  task, the 17 reuse bins raw.
* **Cost network** (Sec. 3.2, ``Model``): a table MLP 21 -> 128 -> 32 (ReLU both), a shard's
  representation is the **sum** of its tables' (an empty device is one all-zero table); three heads
  32 -> 64 -> 1 predict the shard's forward, communication and backward cost; the plan's overall cost
  is a fourth head on the **max over devices** of the shard representations.
* **Policy network** (Sec. 3.3): its own table MLP (summed per device) and the three predicted
  shard costs through 3 -> 64 -> 32, concatenated (64) -> one logit per device; actions are the
  devices with room for the next table.
* **Estimated MDP** (``env.py``): tables in decreasing predicted single-table cost, one placed per
  step, the terminal reward is minus the cost network's overall cost: no hardware during RL.
* **Training** (Algorithm 1, ``training.py``): per iteration, `bench_steps` plans sampled from the
  policy are measured by the oracle (plan -> max latency; shard -> forward, backward communication,
  backward), the cost network takes `bench_training_steps` MSE steps on batches of 64, then
  REINFORCE on the estimated MDP (the episode's return on every step, standardised over the batch,
  plus 0.001 x negative entropy); Adam lr 5e-4 decayed linearly over the iterations.
* **Inference** (``sharders.dreamshard``): one greedy (argmax) episode.

Official quirks kept: the REINFORCE loss takes the softmax over *all* devices while actions are
sampled among the legal ones; the value network (hard-wired to 4 devices) is not built, as the
official loss never uses it. Changes: an episode whose next table fits on no device (the official
code crashes) ends without a plan: a dead end, left out of the RL batch and counted as out of
memory at inference; a feature with zero spread in a task is centred, not divided by zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from harness.sharding.baselines import ShardingResult
from harness.sharding.cost import CostOracle
from harness.sharding.cost_data import CostSamples, PlanSample
from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.tables import NUM_BINS

NUM_FEATURES = 4 + NUM_BINS  # dim, row, pooling_factor, size, bin_0..bin_16
LATENT = 32
NORMALISED = ("row", "pooling_factor", "size")


def table_features(task: ShardingTask) -> torch.Tensor:
    """``[tables, 21]`` features of a task's tables, normalised within the task (official ``utils``)."""
    raw = {"row": np.array([t.row for t in task.tables], dtype=np.float64),
           "pooling_factor": np.array([t.pooling_factor for t in task.tables], dtype=np.float64),
           "size": np.array([t.dim * t.row for t in task.tables], dtype=np.float64)}
    for name in NORMALISED:
        values = raw[name]
        std = values.std()
        raw[name] = (values - values.mean()) / (std if std > 0 else 1.0)
    dims = np.array([t.dim for t in task.tables], dtype=np.float64)
    bins = np.array([t.bins for t in task.tables], dtype=np.float64).reshape(task.num_tables, NUM_BINS)
    columns = np.column_stack([dims, raw["row"], raw["pooling_factor"], raw["size"], bins])
    return torch.tensor(columns, dtype=torch.float32)


def _table_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(NUM_FEATURES, 128), nn.ReLU(), nn.Linear(128, LATENT), nn.ReLU())


def _cost_head() -> nn.Sequential:
    return nn.Sequential(nn.Linear(LATENT, 64), nn.ReLU(), nn.Linear(64, 1))


def pool_segments(latents: torch.Tensor, segments: torch.Tensor, count: int) -> torch.Tensor:
    """Sum of the rows of `latents` per segment id (``index_add_``, as the official model pools)."""
    out = torch.zeros((count, latents.shape[1]), dtype=latents.dtype)
    return out.index_add(0, segments, latents)


class CostNetwork(nn.Module):
    """Sec. 3.2: shard representation = sum of table MLP outputs; forward / communication / backward
    heads per shard; the overall head on the max over devices."""

    def __init__(self) -> None:
        super().__init__()
        self.table = _table_mlp()
        self.forward_head = _cost_head()
        self.communication_head = _cost_head()
        self.backward_head = _cost_head()
        self.overall_head = _cost_head()

    def kernel_costs(self, shard_latent: torch.Tensor) -> torch.Tensor:
        """``[..., 3]``: predicted forward, communication and backward cost (ms) of each shard."""
        return torch.cat([self.forward_head(shard_latent), self.communication_head(shard_latent),
                          self.backward_head(shard_latent)], dim=-1)

    def overall_cost(self, device_latent: torch.Tensor) -> torch.Tensor:
        """``[plans]``: predicted plan cost (ms) from ``[plans, devices, 32]`` shard representations."""
        return self.overall_head(device_latent.max(dim=1).values).squeeze(-1)

    def shard_latents(self, features: torch.Tensor, rows: torch.Tensor, segments: torch.Tensor,
                      count: int) -> torch.Tensor:
        """``[count, 32]``: shard `s` sums the table MLP over ``features[rows[segments == s]]``."""
        return pool_segments(self.table(features[rows]), segments, count)


class PolicyNetwork(nn.Module):
    """Sec. 3.3: a device's logit from its summed table representation and its three predicted costs."""

    def __init__(self) -> None:
        super().__init__()
        self.table = _table_mlp()
        self.cost = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, LATENT), nn.ReLU())
        self.head = nn.Linear(2 * LATENT, 1)

    def forward(self, device_latent: torch.Tensor, device_costs: torch.Tensor) -> torch.Tensor:
        """``[..., devices]`` logits from ``[..., devices, 32]`` latents and ``[..., devices, 3]`` costs."""
        return self.head(torch.cat([device_latent, self.cost(device_costs)], dim=-1)).squeeze(-1)


class DreamShardNet(nn.Module):
    """The cost network and the policy network (one optimizer trains both, as the official code)."""

    def __init__(self) -> None:
        super().__init__()
        self.cost = CostNetwork()
        self.policy = PolicyNetwork()


def _device_latents(member: torch.Tensor, latents: torch.Tensor, empty_latent: torch.Tensor) -> torch.Tensor:
    """``[..., devices, 32]``: each device's summed table latents; an empty device gets an all-zero table's."""
    summed = member @ latents
    empty = (member.sum(dim=-1, keepdim=True) == 0).to(latents.dtype)
    return summed + empty * empty_latent


@dataclass(frozen=True)
class Episodes:
    """A batch of episodes of the estimated MDP on one task (tables in the MDP's order).

    `states[k]` is the ``[episodes, devices, tables]`` membership before step k, `actions[k]` the
    chosen devices; `allocation` maps each *original* table to its device; `alive` is False for an
    episode that reached a table no device had room for; `returns` is minus the predicted cost.
    """

    order: torch.Tensor
    states: torch.Tensor  # [steps, episodes, devices, tables]
    actions: torch.Tensor  # [steps, episodes]
    allocation: torch.Tensor  # [episodes, tables], original table order
    alive: torch.Tensor  # [episodes]
    returns: torch.Tensor  # [episodes]


class EstimatedMDP:
    """The official ``Env`` for one task, vectorised over episodes, with the cost network as simulator."""

    def __init__(self, net: DreamShardNet, features: torch.Tensor, sizes_gb: "list[float]", ndevices: int,
                 max_memory_gb: float) -> None:
        self.net = net
        self.features = features
        self.sizes = torch.tensor(sizes_gb, dtype=torch.float64)
        self.ndevices = ndevices
        self.max_memory_gb = max_memory_gb
        self.zero = torch.zeros(1, NUM_FEATURES)

    def table_order(self) -> torch.Tensor:
        """Tables by decreasing predicted single-table cost (forward + communication + backward)."""
        with torch.no_grad():
            single = self.net.cost.kernel_costs(self.net.cost.table(self.features)).sum(dim=-1)
        return torch.from_numpy(np.argsort(-single.numpy(), kind="stable"))

    def latents(self, order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Table latents in MDP order and an all-zero table's: the cost network's (no gradient), the policy's."""
        with torch.no_grad():
            cost_latents, cost_empty = self.net.cost.table(self.features[order]), self.net.cost.table(self.zero)
        policy = self.net.policy
        return cost_latents, cost_empty, policy.table(self.features[order]), policy.table(self.zero)

    def logits(self, states: torch.Tensor, latents: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``[..., devices]`` policy logits of membership states (gradients reach the policy only)."""
        cost_latents, cost_empty, policy_latents, policy_empty = latents
        with torch.no_grad():
            costs = self.net.cost.kernel_costs(_device_latents(states, cost_latents, cost_empty))
        return self.net.policy(_device_latents(states, policy_latents, policy_empty), costs)

    def rollout(self, episodes: int, generator: torch.Generator | None) -> Episodes:
        """`episodes` episodes: sampled from the policy with `generator`, greedy (argmax) without."""
        order = self.table_order()
        tables = len(order)
        sizes = self.sizes[order]
        member = torch.zeros(episodes, self.ndevices, tables)
        used = torch.zeros(episodes, self.ndevices, dtype=torch.float64)
        alive = torch.ones(episodes, dtype=torch.bool)
        states, actions = [], []
        with torch.no_grad():
            latents = self.latents(order)
            for k in range(tables):
                legal = used + sizes[k] <= self.max_memory_gb
                alive &= legal.any(dim=1)
                legal[~alive] = True  # dead ends: any device, the episode is discarded
                logits = self.logits(member, latents).masked_fill(~legal, float("-inf"))
                if generator is None:
                    action = logits.argmax(dim=1)
                else:
                    action = torch.multinomial(F.softmax(logits, dim=1), 1, generator=generator).squeeze(1)
                states.append(member.clone())
                actions.append(action)
                rows = torch.arange(episodes)
                member[rows, action, k] = 1.0
                used[rows, action] += sizes[k]
            returns = -self.net.cost.overall_cost(_device_latents(member, latents[0], latents[1]))
        step_actions = torch.stack(actions)
        allocation = torch.empty(episodes, tables, dtype=torch.long)
        allocation[:, order] = step_actions.T
        return Episodes(order, torch.stack(states), step_actions, allocation, alive, returns)


def reinforce_loss(mdp: EstimatedMDP, episodes: Episodes, entropy_weight: float) -> torch.Tensor:
    """Official ``train_rl`` loss: mean(nll x standardised return) + weight x mean(sum p log p).

    Every step of an episode carries the episode's return; dead-end episodes are left out.
    """
    keep = episodes.alive
    steps = episodes.states.shape[0]
    states = episodes.states[:, keep].transpose(0, 1).reshape(-1, *episodes.states.shape[2:])
    actions = episodes.actions[:, keep].T.reshape(-1)
    returns = episodes.returns[keep].repeat_interleave(steps)
    returns = (returns - returns.mean()) / (returns.std() + 1e-8)
    log_p = F.log_softmax(mdp.logits(states, mdp.latents(episodes.order)), dim=-1)
    policy_loss = torch.mean(F.nll_loss(log_p, actions, reduction="none") * returns)
    entropy_loss = torch.mean(torch.sum(log_p.exp() * log_p, dim=-1))
    return policy_loss + entropy_loss * entropy_weight


@dataclass(frozen=True)
class TrainingConfig:
    """Algorithm 1's budget; the official ``train.py`` defaults are those of ``params.Params``."""

    num_iterations: int
    bench_steps: int
    bench_training_steps: int
    batch_size: int
    rl_num_batches: int
    rl_batch_size: int
    entropy_weight: float
    lr: float


class FeatureBank:
    """The training tasks' features stacked, with one all-zero row for empty devices."""

    def __init__(self, features: "list[torch.Tensor]") -> None:
        self.features = torch.cat(features + [torch.zeros(1, NUM_FEATURES)])
        self.offsets = np.concatenate([[0], np.cumsum([len(f) for f in features])])
        self.zero_row = len(self.features) - 1

    def shard_rows(self, shards: "list[tuple[int, tuple[int, ...]]]") -> tuple[torch.Tensor, torch.Tensor]:
        """Rows into the bank and segment ids of ``(task_id, table indices)`` shards."""
        rows: list[int] = []
        segments: list[int] = []
        for s, (task_id, tables) in enumerate(shards):
            ids = [int(self.offsets[task_id]) + t for t in tables] or [self.zero_row]
            rows += ids
            segments += [s] * len(ids)
        return torch.tensor(rows), torch.tensor(segments)


def cost_loss(net: DreamShardNet, bank: FeatureBank, plans: "list[PlanSample]",
              shards: "list[tuple[int, tuple[int, ...], np.ndarray]]") -> torch.Tensor:
    """Official ``train_cost`` loss: MSE of the overall cost plus MSE of forward, communication, backward."""
    devices = len(plans[0].shards)
    rows, segments = bank.shard_rows([(p.task_id, s) for p in plans for s in p.shards])
    latent = net.cost.shard_latents(bank.features, rows, segments, len(plans) * devices)
    overall = net.cost.overall_cost(latent.view(len(plans), devices, LATENT))
    overall_y = torch.tensor([p.cost for p in plans], dtype=torch.float32)
    rows, segments = bank.shard_rows([(task_id, tables) for task_id, tables, _ in shards])
    kernel = net.cost.kernel_costs(net.cost.shard_latents(bank.features, rows, segments, len(shards)))
    phases = torch.tensor(np.array([phase for _, _, phase in shards]), dtype=torch.float32)
    kernel_y = phases[:, [0, 2, 3]]  # forward, backward communication, backward (official columns 0, 2, -1)
    return ((overall_y - overall) ** 2).mean() + ((kernel_y - kernel) ** 2).mean(dim=0).sum()


@dataclass
class TrainedDreamShard:
    """A trained network with what training measured and counted."""

    net: DreamShardNet
    samples: CostSamples
    log: list[dict[str, float]] = field(default_factory=list)
    oracle_plans: int = 0  # plans scored by the oracle during training
    rl_oracle_plans: int = 0  # plans scored by the oracle during the RL phases (0 by design)
    rl_episodes: int = 0
    dead_ends: int = 0
    seconds: float = 0.0


def train_dreamshard(tasks: "list[ShardingTask]", oracle: CostOracle, config: TrainingConfig, seed: int,
                     progress: Callable[[str], None] | None = None) -> TrainedDreamShard:
    """Algorithm 1 on `tasks` with `oracle` as the hardware: alternate cost collection, cost-network
    training and REINFORCE on the estimated MDP (official ``training.train``)."""
    start = time.perf_counter()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = DreamShardNet()
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: 1 - it / config.num_iterations)
    features = [table_features(t) for t in tasks]
    mdps = [EstimatedMDP(net, f, t.sizes_gb(), t.ndevices, t.max_memory_gb) for f, t in zip(features, tasks)]
    bank = FeatureBank(features)
    trained = TrainedDreamShard(net, CostSamples())
    for iteration in range(config.num_iterations):
        measured = []
        for _ in range(config.bench_steps):
            task_id = int(rng.integers(len(tasks)))
            episode = mdps[task_id].rollout(1, generator)
            if not bool(episode.alive[0]):
                trained.dead_ends += 1
                continue
            plan = Plan.from_allocation(tasks[task_id], episode.allocation[0].tolist())
            scored = oracle.evaluate(tasks[task_id], plan)
            trained.oracle_plans += 1
            trained.samples.add(task_id, tasks[task_id], plan, scored)
            measured.append(scored.cost)
        losses = []
        if trained.samples.num_plans:
            for _ in range(config.bench_training_steps):
                optimizer.zero_grad()
                loss = cost_loss(net, bank, trained.samples.sample_plans(rng, config.batch_size),
                                 trained.samples.sample_shards(rng, config.batch_size))
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        before_rl = trained.oracle_plans
        rewards = []
        for _ in range(config.rl_num_batches):
            task_id = int(rng.integers(len(tasks)))
            episodes = mdps[task_id].rollout(config.rl_batch_size, generator)
            trained.rl_episodes += config.rl_batch_size
            if int(episodes.alive.sum()) < 2:
                trained.dead_ends += int((~episodes.alive).sum())
                continue
            optimizer.zero_grad()
            reinforce_loss(mdps[task_id], episodes, config.entropy_weight).backward()
            optimizer.step()
            rewards.append(float(episodes.returns[episodes.alive].mean()))
        trained.rl_oracle_plans += trained.oracle_plans - before_rl
        scheduler.step()
        row = {"iteration": float(iteration), "measured_cost_ms": float(np.mean(measured)) if measured else float("nan"),
               "cost_loss": float(np.mean(losses[-50:])) if losses else float("nan"),
               "estimated_cost_ms": -float(np.mean(rewards)) if rewards else float("nan")}
        trained.log.append(row)
        if progress is not None:
            progress(f"iteration {iteration + 1}/{config.num_iterations}: measured {row['measured_cost_ms']:.2f} ms, "
                     f"cost loss {row['cost_loss']:.3g}, estimated {row['estimated_cost_ms']:.2f} ms")
    trained.seconds = time.perf_counter() - start
    return trained


def dreamshard_shard(net: DreamShardNet, task: ShardingTask) -> ShardingResult:
    """Inference: one greedy episode of the estimated MDP (official ``sharders.dreamshard``)."""
    start = time.perf_counter()
    mdp = EstimatedMDP(net, table_features(task), task.sizes_gb(), task.ndevices, task.max_memory_gb)
    episode = mdp.rollout(1, None)
    seconds = time.perf_counter() - start
    if not bool(episode.alive[0]):
        return ShardingResult("dreamshard", None, planning_seconds=seconds,
                              notes={"reason": "a table fits on no device (dead end of the greedy episode)"})
    return ShardingResult("dreamshard", Plan.from_allocation(task, episode.allocation[0].tolist()),
                          planning_seconds=seconds)


def predicted_shard_costs(net: DreamShardNet, task: ShardingTask, shards: "list[list[int]]") -> np.ndarray:
    """``[shards, 3]`` predicted forward, communication and backward cost (ms) of table-index shards."""
    bank = FeatureBank([table_features(task)])
    rows, segments = bank.shard_rows([(0, tuple(s)) for s in shards])
    with torch.no_grad():
        return net.cost.kernel_costs(net.cost.shard_latents(bank.features, rows, segments, len(shards))).numpy()


def predicted_plan_cost(net: DreamShardNet, task: ShardingTask, shards: "list[list[int]]") -> float:
    """The cost network's overall cost (ms) of a table-wise plan given per device."""
    bank = FeatureBank([table_features(task)])
    rows, segments = bank.shard_rows([(0, tuple(s)) for s in shards])
    with torch.no_grad():
        latent = net.cost.shard_latents(bank.features, rows, segments, len(shards))
        return float(net.cost.overall_cost(latent.view(1, len(shards), LATENT))[0])
