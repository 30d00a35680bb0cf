"""AutoShard (Zha et al., KDD 2022, arXiv 2208.06399): an RL policy and a neural shard-cost model.

Read from the official code (daochenzha/autoshard @e861ecb, ``autoshard/training.py``,
``autoshard/bench.py``, ``autoshard/sharders.py``) and re-implemented:

* **Episode** (``GymWrapper``): the task's tables sorted by the cost model's *predicted single-table
  cost*, descending; one table per step, the action is its device. Observation: the table's 21
  features, the fraction of tables placed, and per device the features of its tables (plus a zero
  dummy row) and ``[predicted cost of its current shard, its size in GB]``.
* **Reward**: 0 until the last table; then ``(cap - max size) / cap`` if a device is over its
  memory cap, else ``min / max`` of the devices' *measured* costs (the oracle, never the cost model).
* **Network** (``Net``): one table encoder (21-128-32, ReLU) shared by the policy, the value head and
  the cost head; state = encoded table ++ encoded progress, through a 2-layer LSTM (reset at episode
  starts); a device's action vector = sum of its tables' encodings ++ encoded ``[cost, size]``; the
  policy scores ``[state, action, state * action]`` per device (192-128-128-64-1); the cost head
  sums a shard's table encodings (32-64-1).
* **Training** (``train``/``learn``): IMPALA-style actor-learner with V-trace (torchbeast's
  ``from_logits``), Adam with a linearly decaying learning rate, entropy and baseline costs, gradient
  clipping; after each policy update, ``num_cost_updates`` MSE steps of the cost head on minibatches
  of 512 from a ring buffer (5,000) of the (shard, measured cost) pairs the rewards produced.
* **Inference** (``rl_shard``): the greedy action (argmax) at every step.

Here the actors run in the learner's process one after another (the official code forks one per
GPU); each learner batch holds one unroll of every actor, so the behaviour policy is the learner's
and V-trace's importance weights are 1 (it reduces to n-step returns with a learned baseline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.sharding.baselines import ShardingResult
from harness.sharding.cost import CostOracle
from harness.sharding.plan import Plan, ShardingTask
from papers.autoshard.features import NUM_FEATURES, FeatureScaler

CORE = 64  # t_fc_1 (32) + s_fc_0 (32): the LSTM's input and hidden size


class AutoShardNet(nn.Module):
    """The official ``Net``: policy, value and cost heads over one shared table encoder."""

    def __init__(self, ndevices: int, num_features: int = NUM_FEATURES) -> None:
        super().__init__()
        self.ndevices = ndevices
        self.t_fc_0 = nn.Linear(num_features, 128)
        self.t_fc_1 = nn.Linear(128, 32)
        self.s_fc_0 = nn.Linear(1, 32)
        self.a_fc_0 = nn.Linear(2, 32)
        self.core = nn.LSTM(CORE, CORE, 2)
        self.p_fc_0 = nn.Linear(3 * CORE, 128)
        self.p_fc_1 = nn.Linear(128, 128)
        self.p_fc_2 = nn.Linear(128, 64)
        self.p_fc_3 = nn.Linear(64, 1)
        self.b_fc_0 = nn.Linear(CORE, 64)
        self.b_fc_1 = nn.Linear(64, 1)
        self.c_fc_0 = nn.Linear(32, 64)
        self.c_fc_1 = nn.Linear(64, 1)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero LSTM state for `batch_size` parallel episodes."""
        return (torch.zeros(self.core.num_layers, batch_size, CORE), torch.zeros(self.core.num_layers, batch_size, CORE))

    def encode_tables(self, features: torch.Tensor) -> torch.Tensor:
        """``[N, 21] -> [N, 32]``: the shared table encoder."""
        return F.relu(self.t_fc_1(F.relu(self.t_fc_0(features))))

    def cost_head(self, shard_encodings: torch.Tensor) -> torch.Tensor:
        """``[S, 32]`` summed table encodings -> ``[S]`` predicted shard costs (ms)."""
        return self.c_fc_1(F.relu(self.c_fc_0(shard_encodings))).view(-1)

    def cost_forward(self, features: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Predicted cost of shards whose tables are consecutive rows of `features` (`counts` per shard)."""
        return self.cost_head(segment_sum(self.encode_tables(features), counts))

    def forward(self, steps: "StepBatch", core_state: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Policy logits ``[T, B, D]`` and values ``[T, B]`` of a ``[T, B]`` block of steps."""
        t_len, batch, _ = steps.state_table.shape
        state = torch.cat([self.encode_tables(steps.state_table.flatten(0, 1)),
                           F.relu(self.s_fc_0(steps.state_other.flatten(0, 1)))], dim=-1).view(t_len, batch, -1)
        outputs = []
        for x, done in zip(state.unbind(), steps.done.unbind()):
            keep = (~done).float().view(1, -1, 1)  # reset the core at an episode's first step
            core_state = (keep * core_state[0], keep * core_state[1])
            out, core_state = self.core(x.unsqueeze(0), core_state)
            outputs.append(out)
        core = torch.cat(outputs).flatten(0, 1)  # [T*B, 64]
        baseline = self.b_fc_1(F.relu(self.b_fc_0(core))).view(t_len, batch)
        shards = segment_sum(self.encode_tables(steps.shard_tables), steps.shard_counts.flatten())  # [T*B*D, 32]
        other = F.relu(self.a_fc_0(steps.shard_other.flatten(0, 2)))
        actions = torch.cat([shards, other], dim=-1)  # [T*B*D, 64]
        repeated = core.repeat_interleave(self.ndevices, dim=0)
        x = torch.cat([repeated, actions, repeated * actions], dim=-1)
        x = F.relu(self.p_fc_2(F.relu(self.p_fc_1(F.relu(self.p_fc_0(x))))))
        logits = self.p_fc_3(x).view(t_len, batch, self.ndevices)
        return logits, baseline, core_state


def segment_sum(rows: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Sum consecutive groups of `rows` (``counts[k]`` rows for group k), as the official ``index_add_``."""
    index = torch.repeat_interleave(torch.arange(len(counts)), counts)
    return torch.zeros(len(counts), rows.shape[1], dtype=rows.dtype).index_add_(0, index, rows)


@dataclass
class StepBatch:
    """Observations of ``[T, B]`` steps; per step, its devices' table rows are consecutive in `shard_tables`."""

    state_table: torch.Tensor  # [T, B, 21]
    state_other: torch.Tensor  # [T, B, 1]
    shard_tables: torch.Tensor  # [sum of counts, 21]
    shard_counts: torch.Tensor  # [T, B, D] (each >= 1: the dummy row)
    shard_other: torch.Tensor  # [T, B, D, 2]
    done: torch.Tensor  # [T, B] bool: this observation starts an episode


@dataclass
class Observation:
    """One step's observation (the official ``_get_obs``) and whether it starts an episode."""

    state_table: np.ndarray  # [21]
    state_other: np.ndarray  # [1]
    shard_tables: np.ndarray  # [rows, 21]
    shard_counts: np.ndarray  # [D]
    shard_other: np.ndarray  # [D, 2]
    done: bool


def stack_steps(observations: "list[list[Observation]]") -> StepBatch:
    """``observations[t][b]`` -> a :class:`StepBatch` (time major, as torchbeast's buffers)."""
    flat = [o for row in observations for o in row]
    t_len, batch = len(observations), len(observations[0])

    def stacked(name: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([getattr(o, name) for o in flat])).view(t_len, batch, *getattr(flat[0], name).shape)

    return StepBatch(stacked("state_table"), stacked("state_other"),
                     torch.from_numpy(np.concatenate([o.shard_tables for o in flat])),
                     stacked("shard_counts"), stacked("shard_other"),
                     torch.tensor([o.done for o in flat]).view(t_len, batch))


@dataclass
class CostSample:
    """One measured shard: its tables' features and its measured cost (ms), for the cost head."""

    features: np.ndarray
    cost_ms: float


class ShardingEpisode:
    """One task as AutoShard's environment: tables in predicted-cost order, one device per step."""

    def __init__(self, task: ShardingTask, scaler: FeatureScaler, oracle: CostOracle | None) -> None:
        self.task = task
        self.features = scaler.task_matrix(task)
        self.sizes = np.asarray(task.sizes_gb())
        self.oracle = oracle
        self.order: list[int] = []
        self.assignment: list[list[int]] = []
        self.index = 0
        self._encoded: torch.Tensor | None = None
        self._net: AutoShardNet | None = None

    def reset(self, net: AutoShardNet) -> Observation:
        """Sort the tables by the cost model's single-table prediction (descending) and start over."""
        self._net = net
        with torch.no_grad():
            self._encoded = net.encode_tables(torch.from_numpy(self.features))
            single = net.cost_head(self._encoded).tolist()
        self.order = sorted(range(self.task.num_tables), key=lambda i: single[i], reverse=True)
        self.assignment = [[] for _ in range(self.task.ndevices)]
        self.index = 0
        return self.observe(done=True)

    def predicted_shard_costs(self) -> list[float]:
        """The cost head's prediction for each device's current shard (0 for an empty one)."""
        assert self._net is not None and self._encoded is not None
        out = [0.0] * self.task.ndevices
        busy = [d for d, shard in enumerate(self.assignment) if shard]
        if busy:
            with torch.no_grad():
                sums = torch.stack([self._encoded[self.assignment[d]].sum(dim=0) for d in busy])
                for d, c in zip(busy, self._net.cost_head(sums).tolist()):
                    out[d] = c
        return out

    def observe(self, done: bool) -> Observation:
        """The observation of the table at `index` (the official ``_get_obs``)."""
        table = self.order[min(self.index, self.task.num_tables - 1)]
        dummy = np.zeros((1, self.features.shape[1]), dtype=np.float32)
        shard_rows = np.concatenate([np.concatenate([self.features[shard], dummy]) for shard in self.assignment])
        other = np.array([[c, float(self.sizes[shard].sum()) if shard else 0.0]
                          for c, shard in zip(self.predicted_shard_costs(), self.assignment)], dtype=np.float32)
        return Observation(self.features[table], np.array([self.index / self.task.num_tables], dtype=np.float32),
                           shard_rows, np.array([len(s) + 1 for s in self.assignment], dtype=np.int64), other, done)

    def place(self, device: int) -> bool:
        """Put the current table on `device`; True when every table is placed."""
        self.assignment[device].append(self.order[self.index])
        self.index += 1
        return self.index >= self.task.num_tables

    def plan(self) -> Plan:
        """The placed tables as a table-wise plan."""
        return Plan.table_wise(self.task, [sorted(s) for s in self.assignment])

    def reward(self) -> tuple[float, list[CostSample]]:
        """The terminal reward and the measured shards it produced (for the cost head's buffer)."""
        cap = self.task.max_memory_gb
        max_size = max(float(self.sizes[s].sum()) if s else 0.0 for s in self.assignment)
        if max_size > cap:
            return (cap - max_size) / cap, []
        assert self.oracle is not None, "a reward needs an oracle"
        latencies = self.oracle.evaluate(self.task, self.plan()).per_device.sum(axis=1)
        samples = [CostSample(self.features[s], float(c)) for s, c in zip(self.assignment, latencies) if s]
        return float(latencies.min() / latencies.max()) if latencies.max() > 0 else 1.0, samples


@dataclass
class Unroll:
    """One actor's unroll in torchbeast's layout: ``length + 1`` entries, entry 0 = the previous unroll's last."""

    obs: list[Observation]
    action: torch.Tensor  # [T+1] the action taken on obs[t-1] (entry 0 unused)
    logits: torch.Tensor  # [T+1, D] the behaviour logits of that action
    reward: torch.Tensor  # [T+1]
    done: torch.Tensor  # [T+1] obs[t] starts an episode
    initial_state: tuple[torch.Tensor, torch.Tensor]
    returns: list[float]  # the returns of the episodes finished in this unroll


@dataclass(frozen=True)
class TrainConfig:
    """``run_autoshard.py``'s flags (defaults: the official values)."""

    total_steps: int = 100_000
    batch_size: int = 8  # unrolls per learner batch (= actors here)
    unroll_length: int = 100
    num_cost_updates: int = 20
    num_min_buf_size: int = 0
    cost_batch_size: int = 512
    replay_size: int = 5_000
    entropy_cost: float = 0.001
    baseline_cost: float = 0.5
    discounting: float = 1.0
    learning_rate: float = 0.001
    grad_norm_clipping: float = 40.0


@dataclass
class TrainLog:
    """What training did: per learner step its mean return and losses; measured shards; wall time."""

    steps: list[dict[str, float]] = field(default_factory=list)
    episodes: int = 0
    measured_shards: int = 0
    seconds: float = 0.0


class Actor:
    """One torchbeast actor: its own episode stream, LSTM state and last output (kept across unrolls)."""

    def __init__(self, episodes: Sequence[ShardingEpisode], rng: np.random.Generator, net: AutoShardNet) -> None:
        self.episodes = episodes
        self.rng = rng
        self.episode = episodes[int(rng.integers(len(episodes)))]
        self.obs = self.episode.reset(net)
        self.state = net.initial_state(1)
        # The buffer's first entry: an output on the first observation, the state left unchanged
        # (the official ``agent_output, unused_state = model(env_output, agent_state)``).
        self.last = self._act(net, keep_state=False)
        self.reward = 0.0

    def _act(self, net: AutoShardNet, keep_state: bool = True) -> tuple[int, torch.Tensor, float]:
        """Sample an action on the current observation; advance the LSTM state unless told not to."""
        with torch.no_grad():
            logits, baseline, state = net(stack_steps([[self.obs]]), self.state)
        if keep_state:
            self.state = state
        action = int(torch.multinomial(F.softmax(logits.view(-1), dim=0), 1).item())
        return action, logits.view(-1), float(baseline.item())

    def unroll(self, net: AutoShardNet, length: int, log: TrainLog) -> tuple[Unroll, list[CostSample]]:
        """`length` steps; entry 0 repeats the previous unroll's last entry (torchbeast's layout)."""
        initial_state = self.state
        observations, actions, logits = [self.obs], [self.last[0]], [self.last[1]]
        rewards, dones, returns = [self.reward], [self.obs.done], []
        samples: list[CostSample] = []
        for _ in range(length):
            self.last = self._act(net)
            action = self.last[0]
            finished = self.episode.place(action)
            self.reward = 0.0
            if finished:
                self.reward, measured = self.episode.reward()
                samples.extend(measured)
                log.episodes += 1
                log.measured_shards += len(measured)
                returns.append(self.reward)
                self.episode = self.episodes[int(self.rng.integers(len(self.episodes)))]
                self.obs = self.episode.reset(net)
            else:
                self.obs = self.episode.observe(done=False)
            observations.append(self.obs)
            actions.append(action)
            logits.append(self.last[1])
            rewards.append(self.reward)
            dones.append(finished)
        unroll = Unroll(observations, torch.tensor(actions), torch.stack(logits), torch.tensor(rewards, dtype=torch.float32),
                        torch.tensor(dones), initial_state, returns)
        return unroll, samples


def action_log_probs(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log pi(a) for ``[T, B, D]`` logits and ``[T, B]`` actions."""
    return -F.nll_loss(F.log_softmax(logits.flatten(0, -2), dim=-1), actions.flatten(), reduction="none").view_as(actions)


@torch.no_grad()
def vtrace(behaviour_logits: torch.Tensor, target_logits: torch.Tensor, actions: torch.Tensor,
           discounts: torch.Tensor, rewards: torch.Tensor, values: torch.Tensor, bootstrap: torch.Tensor,
           clip_rho: float = 1.0, clip_pg_rho: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """V-trace targets ``vs`` and policy-gradient advantages (Espeholt et al. 2018; torchbeast's ``from_logits``)."""
    rhos = torch.exp(action_log_probs(target_logits, actions) - action_log_probs(behaviour_logits, actions))
    clipped = torch.clamp(rhos, max=clip_rho)
    cs = torch.clamp(rhos, max=1.0)
    next_values = torch.cat([values[1:], bootstrap.unsqueeze(0)])
    deltas = clipped * (rewards + discounts * next_values - values)
    acc = torch.zeros_like(bootstrap)
    result = []
    for t in range(discounts.shape[0] - 1, -1, -1):
        acc = deltas[t] + discounts[t] * cs[t] * acc
        result.append(acc)
    vs = torch.stack(result[::-1]) + values
    next_vs = torch.cat([vs[1:], bootstrap.unsqueeze(0)])
    advantages = torch.clamp(rhos, max=clip_pg_rho) * (rewards + discounts * next_vs - values)
    return vs, advantages


class CostReplay:
    """The official ``RingBuffer``: the last `size` measured shards, sampled with replacement."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size = size
        self.rng = rng
        self.samples: list[CostSample] = []
        self.start = 0

    def __len__(self) -> int:
        return len(self.samples)

    def extend(self, samples: "list[CostSample]") -> None:
        """Append, overwriting the oldest once full."""
        for s in samples:
            if len(self.samples) < self.size:
                self.samples.append(s)
            else:
                self.samples[self.start] = s
                self.start = (self.start + 1) % self.size

    def batch(self, size: int) -> list[CostSample]:
        """`size` samples drawn uniformly with replacement."""
        return [self.samples[int(i)] for i in self.rng.integers(len(self.samples), size=size)]


def predict_costs(net: AutoShardNet, shards: "list[np.ndarray]") -> torch.Tensor:
    """The cost head on shards given as feature matrices."""
    return net.cost_forward(torch.from_numpy(np.concatenate(shards)), torch.tensor([len(s) for s in shards]))


def learn(net: AutoShardNet, optimizer: torch.optim.Optimizer, buffers: "list[Unroll]",
          config: TrainConfig) -> dict[str, float]:
    """One learner step on `buffers` (one unroll per actor): V-trace policy, value and entropy losses."""
    steps = stack_steps([list(row) for row in zip(*[b.obs for b in buffers])])
    state = (torch.cat([b.initial_state[0] for b in buffers], dim=1), torch.cat([b.initial_state[1] for b in buffers], dim=1))
    logits, baseline, _ = net(steps, state)
    action = torch.stack([b.action for b in buffers], dim=1)[1:]
    behaviour = torch.stack([b.logits for b in buffers], dim=1)[1:]
    reward = torch.stack([b.reward for b in buffers], dim=1)[1:]
    done = torch.stack([b.done for b in buffers], dim=1)[1:]
    target, values, bootstrap = logits[:-1], baseline[:-1], baseline[-1]
    vs, advantages = vtrace(behaviour, target.detach(), action, (~done).float() * config.discounting, reward,
                            values.detach(), bootstrap.detach())
    pg_loss = torch.sum(F.nll_loss(F.log_softmax(target.flatten(0, 1), dim=-1), action.flatten(), reduction="none")
                        .view_as(advantages) * advantages)
    baseline_loss = config.baseline_cost * 0.5 * torch.sum((vs - values) ** 2)
    policy = F.softmax(target, dim=-1)
    entropy_loss = config.entropy_cost * torch.sum(policy * F.log_softmax(target, dim=-1))
    total = pg_loss + baseline_loss + entropy_loss
    optimizer.zero_grad()
    total.backward()
    nn.utils.clip_grad_norm_(net.parameters(), config.grad_norm_clipping)
    optimizer.step()
    return {"total_loss": float(total.detach()), "pg_loss": float(pg_loss.detach()), "baseline_loss": float(baseline_loss.detach()),
            "entropy_loss": float(entropy_loss.detach())}


def learn_costs(net: AutoShardNet, optimizer: torch.optim.Optimizer, replay: CostReplay, config: TrainConfig) -> float:
    """``num_cost_updates`` MSE steps of the cost head (and the shared encoder) on replayed shards."""
    loss_value = float("nan")
    if len(replay) <= config.num_min_buf_size or len(replay) == 0:
        return loss_value
    for _ in range(config.num_cost_updates):
        batch = replay.batch(config.cost_batch_size)
        predicted = predict_costs(net, [s.features for s in batch])
        loss = torch.mean((predicted - torch.tensor([s.cost_ms for s in batch], dtype=torch.float32)) ** 2)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), config.grad_norm_clipping)
        optimizer.step()
        loss_value = float(loss.detach())
    return loss_value


def train(tasks: Sequence[ShardingTask], oracle: CostOracle, config: TrainConfig, seed: int,
          progress: Callable[[str], None] | None = None) -> tuple[AutoShardNet, FeatureScaler, TrainLog]:
    """Train AutoShard's policy and cost model on `tasks` with rewards measured by `oracle`."""
    if not tasks:
        raise ValueError("AutoShard needs at least one training task")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    scaler = FeatureScaler.fit(tasks)
    net = AutoShardNet(tasks[0].ndevices)
    episodes = [[ShardingEpisode(t, scaler, oracle) for t in tasks] for _ in range(config.batch_size)]
    actors = [Actor(eps, np.random.default_rng([seed, k]), net) for k, eps in enumerate(episodes)]
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    per_update = config.unroll_length * config.batch_size
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: 1 - min(epoch * per_update, config.total_steps) / config.total_steps)
    replay = CostReplay(config.replay_size, np.random.default_rng([seed, 10_000]))
    log = TrainLog()
    start = time.perf_counter()
    step = 0
    while step < config.total_steps:
        results = [actor.unroll(net, config.unroll_length, log) for actor in actors]
        buffers = [b for b, _ in results]
        stats = learn(net, optimizer, buffers, config)
        scheduler.step()
        replay.extend([s for _, samples in results for s in samples])
        stats["cost_loss"] = learn_costs(net, optimizer, replay, config)
        returns = [r for b in buffers for r in b.returns]
        stats["mean_episode_return"] = float(np.mean(returns)) if returns else float("nan")
        step += per_update
        stats["step"] = float(step)
        log.steps.append(stats)
        if progress is not None:
            progress(f"step {step}/{config.total_steps}: return {stats['mean_episode_return']:.3f}, "
                     f"cost loss {stats['cost_loss']:.4g}, {log.episodes} episodes")
    log.seconds = time.perf_counter() - start
    return net, scaler, log


def rl_shard(net: AutoShardNet, scaler: FeatureScaler, task: ShardingTask) -> ShardingResult:
    """The trained policy's greedy plan for `task` (the official ``rl_shard``); planning time includes the sort."""
    if task.ndevices != net.ndevices:
        raise ValueError(f"the policy was trained for {net.ndevices} devices, the task has {task.ndevices}")
    start = time.perf_counter()
    episode = ShardingEpisode(task, scaler, oracle=None)
    state = net.initial_state(1)
    obs = episode.reset(net)
    while True:
        with torch.no_grad():
            logits, _, state = net(stack_steps([[obs]]), state)
        if episode.place(int(logits.view(-1).argmax())):
            break
        obs = episode.observe(done=False)
    plan = episode.plan()
    return ShardingResult("autoshard", plan, planning_seconds=time.perf_counter() - start)
