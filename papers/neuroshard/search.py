"""NeuroShard's online search on its pre-trained cost models (Zha et al., MLSys'23, Sec. 4;
``neuroshard/simulator.py`` and ``neuroshard/neurosharder.py`` @ec7ca74).

The **simulator** costs a placement of table pieces without hardware: per device, the compute
model on the device's pieces, the backward comm model on the devices' dimension sums, the sleeps
``compute + backward comm - min`` and the forward comm model on dims and sleeps; the plan's cost
is ``max_d (compute_d + bw_d + fw_d)``; a device over the memory cap makes the plan invalid.

The **search**:

* ``greedy(scale)``: pieces by predicted single-piece compute, largest first; each goes to the
  device that fits its memory and keeps ``dim_sum + dim <= scale * sum(dims) / D``, of smallest
  *predicted fused compute of its current shard* (ties to the smaller size); none feasible: no plan.
* ``table_wise_shard``: ``greedy`` at every scale of ``linspace(1.0, 1.5, search_steps)``; the plan
  of lowest simulated cost.
* ``shard``: beam search over column-wise splits from the table-wise plan: for up to
  ``max_length`` rounds and each of the ``k`` best split sequences, every candidate piece (the union
  of the top ``n`` by size and by predicted compute) whose half width stays divisible by 4 is
  halved and duplicated, then ``table_wise_shard`` places the pieces; the ``k`` cheapest sequences
  go on; the cheapest plan seen is returned.

The networks run here as numpy copies of their weights (the same function as the torch modules,
checked in the tests), since the search evaluates them hundreds of thousands of times one shard
at a time; like the official ``_compute_cache``, a shard's predicted compute is cached per
composition (the multiset of its pieces, keyed by a sum of random 62-bit piece ids).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from torch import nn

from harness.sharding.baselines import ShardingResult
from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.tables import table_size_gb
from papers.neuroshard.cost_models import CommCostNet, ComputeCostNet, Standardize, table_features

Piece = tuple[int, int]  # (task table index, width)


class NumpyMLP:
    """The forward pass of an ``nn.Sequential`` of Linear and ReLU layers (and a leading Standardize)."""

    def __init__(self, *modules: nn.Module) -> None:
        self.steps: list[tuple[str, np.ndarray, np.ndarray]] = []
        for module in modules:
            for layer in (module if isinstance(module, nn.Sequential) else [module]):
                if isinstance(layer, Standardize):
                    self.steps.append(("standardize", layer.mean.numpy().astype(np.float64),
                                       layer.std.numpy().astype(np.float64)))
                elif isinstance(layer, nn.Linear):
                    self.steps.append(("linear", layer.weight.detach().numpy().T.astype(np.float64),
                                       layer.bias.detach().numpy().astype(np.float64)))
                elif isinstance(layer, nn.ReLU):
                    self.steps.append(("relu", np.empty(0), np.empty(0)))
                else:
                    raise TypeError(f"NumpyMLP cannot run a {type(layer).__name__}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The module's output for `x` (float64)."""
        for kind, a, b in self.steps:
            if kind == "linear":
                x = x @ a + b
            elif kind == "relu":
                x = np.maximum(x, 0.0)
            else:
                x = (x - a) / b
        return x


@dataclass(frozen=True)
class CostModels:
    """The three pre-trained networks: compute, forward comm (dims + sleeps) and backward comm (dims)."""

    compute: ComputeCostNet
    forward_comm: CommCostNet
    backward_comm: CommCostNet


class ShardingSimulator:
    """NeuroShard's simulator for one task (module docstring), on numpy copies of the networks."""

    def __init__(self, models: CostModels, task: ShardingTask) -> None:
        self.task = task
        self.embed = NumpyMLP(models.compute.normalizer, models.compute.table_mlp)
        self.head = NumpyMLP(models.compute.pred_mlp)
        self.forward_comm = NumpyMLP(models.forward_comm.normalizer, models.forward_comm.net)
        self.backward_comm = NumpyMLP(models.backward_comm.normalizer, models.backward_comm.net)
        self.width = models.compute.width
        self._embeddings: dict[Piece, np.ndarray] = {}
        self._piece_ids: dict[Piece, int] = {}
        self._shard_costs: dict[int, float] = {}
        self._rng = np.random.default_rng(0)

    def embeddings(self, pieces: "list[Piece]") -> np.ndarray:
        """``[pieces, 32]`` table-MLP outputs of the pieces (a piece is its table at its own width)."""
        missing = sorted({p for p in pieces if p not in self._embeddings})
        if missing:
            rows = self.embed(table_features([self.task.tables[t].with_dim(w) for t, w in missing]).numpy()
                              .astype(np.float64))
            self._embeddings.update(zip(missing, rows))
        return np.stack([self._embeddings[p] for p in pieces]) if pieces else np.zeros((0, self.width))

    def compute(self, pooled: np.ndarray) -> np.ndarray:
        """Predicted fused compute (ms) of shards given their summed embeddings ``[shards, 32]``."""
        return self.head(pooled)[:, 0]

    def piece_id(self, piece: Piece) -> int:
        """A random 62-bit id per distinct piece; a shard's key is the sum of its pieces' ids (a multiset hash)."""
        if piece not in self._piece_ids:
            self._piece_ids[piece] = int(self._rng.integers(1, 2**62))
        return self._piece_ids[piece]

    def shard_compute(self, key: int, pooled: np.ndarray) -> float:
        """Predicted fused compute of the shard whose key is `key` (cached per composition, as the
        official ``_compute_cache``) given its summed embedding."""
        cost = self._shard_costs.get(key)
        if cost is None:
            cost = self._shard_costs[key] = float(self.head(pooled[None, :])[0, 0])
        return cost

    def size_gb(self, piece: Piece) -> float:
        """A piece's size in the task's precision (its table's rows at the piece's width)."""
        return table_size_gb(self.task.tables[piece[0]].row, piece[1], self.task.fp16)

    def final_cost(self, pieces: "list[Piece]", shards: "list[list[int]]") -> float:
        """The simulated cost of placing `pieces` as `shards` (``inf`` over the memory cap)."""
        sizes = [self.size_gb(piece) for piece in pieces]
        return self.placement_cost(self.embeddings(pieces), [w for _, w in pieces], sizes, shards)

    def placement_cost(self, emb: np.ndarray, dims: "list[int]", sizes: "list[float]",
                       shards: "list[list[int]]") -> float:
        """:meth:`final_cost` from the pieces' embeddings, widths and sizes."""
        if max(sum(sizes[i] for i in shard) for shard in shards) > self.task.max_memory_gb:
            return float("inf")
        pooled = np.stack([emb[shard].sum(axis=0) if shard else np.zeros(self.width) for shard in shards])
        shard_dims = np.array([sum(dims[i] for i in shard) for shard in shards], dtype=np.float64)
        return self.cost_of(self.compute(pooled), shard_dims)

    def cost_of(self, compute: np.ndarray, dims: np.ndarray) -> float:
        """``max_d (compute + bw + fw)`` with the comm models (``get_final_cost``)."""
        backward = self.backward_comm(dims[None, :])[0]
        sleeps = compute + backward
        sleeps = sleeps - sleeps.min()
        forward = self.forward_comm(np.concatenate([dims, sleeps])[None, :])[0]
        return float(np.max(compute + backward + forward))

    def plan_cost(self, plan: Plan) -> float:
        """The simulated cost of any plan (NeuroShard's ``eval_simulator.py`` score; ``inf`` if over memory)."""
        return self.final_cost(list(plan.pieces), plan.partitions())


class NeuroSharder:
    """The beam search over column-wise splits with the greedy grid search (module docstring)."""

    def __init__(self, simulator: ShardingSimulator, k: int = 3, n: int = 10, max_length: int = 10,
                 search_steps: int = 11) -> None:
        self.sim = simulator
        self.task = simulator.task
        self.k, self.n, self.max_length, self.search_steps = k, n, max_length, search_steps
        self._apply([])

    def _apply(self, steps: "list[int]") -> None:
        """The pieces after the split sequence `steps` (official ``_col_wise_shard`` per step)."""
        pieces = [(i, t.dim) for i, t in enumerate(self.task.tables)]
        for index in steps:
            table, width = pieces[index]
            pieces[index] = (table, width // 2)
            pieces.append((table, width // 2))
        self.pieces = pieces
        self.emb = self.sim.embeddings(pieces)
        self.dims = [w for _, w in pieces]
        self.sizes = [self.sim.size_gb(piece) for piece in pieces]
        self.ids = [self.sim.piece_id(piece) for piece in pieces]
        self.single = self.sim.compute(self.emb).tolist()
        self.mean_dim = float(sum(self.dims)) / self.task.ndevices

    def greedy(self, scale: float) -> "list[list[int]] | None":
        """One greedy placement under the dimension-balance `scale` (official ``_greedy``), or None."""
        devices = self.task.ndevices
        shards: list[list[int]] = [[] for _ in range(devices)]
        size_sums, dim_sums, cost_sums = [0.0] * devices, [0] * devices, [0.0] * devices
        pooled = np.zeros((devices, self.emb.shape[1]))
        keys = [0] * devices
        order = sorted(range(len(self.pieces)), key=lambda i: self.single[i])
        limit = scale * self.mean_dim
        while order:
            index = order.pop()
            size, dim = self.sizes[index], self.dims[index]
            best, best_size, best_r = float("inf"), float("inf"), -1
            for r in range(devices):
                if size_sums[r] + size <= self.task.max_memory_gb and dim_sums[r] + dim <= limit:
                    if cost_sums[r] < best or (cost_sums[r] == best and size_sums[r] < best_size):
                        best, best_r, best_size = cost_sums[r], r, size_sums[r]
            if best_r == -1:
                return None
            shards[best_r].append(index)
            size_sums[best_r] += size
            dim_sums[best_r] += dim
            pooled[best_r] += self.emb[index]
            keys[best_r] = (keys[best_r] + self.ids[index]) % 2**64
            cost_sums[best_r] = self.sim.shard_compute(keys[best_r], pooled[best_r])
        return shards

    def table_wise_shard(self) -> tuple["list[list[int]] | None", float]:
        """The best greedy plan over the scales ``linspace(1.0, 1.5, search_steps)`` and its simulated cost."""
        best_shards, best_cost = None, float("inf")
        step = 0.5 / (self.search_steps - 1) if self.search_steps > 1 else 0.0
        for i in range(self.search_steps):
            shards = self.greedy(1.0 + step * i)
            if shards is not None:
                cost = self.sim.placement_cost(self.emb, self.dims, self.sizes, shards)
                if cost < best_cost:
                    best_shards, best_cost = shards, cost
        return best_shards, best_cost

    def candidates(self) -> list[int]:
        """The union of the top n pieces by size and by predicted compute (all pieces if fewer than n)."""
        if self.n > len(self.sizes):
            return list(range(len(self.sizes)))
        by_size = np.argpartition(np.asarray(self.sizes), -self.n)[-self.n:]
        by_compute = np.argpartition(np.asarray(self.single), -self.n)[-self.n:]
        return [int(i) for i in np.union1d(by_size, by_compute)]

    def shard(self) -> tuple[list[int], "list[list[int]] | None", float]:
        """The best split sequence, its placement (None if nothing fits) and its simulated cost (``shard``)."""
        shards, cost = self.table_wise_shard()
        best: tuple[list[int], list[list[int]] | None, float] = ([], shards, cost)
        beam: list[tuple[list[int], float]] = [([], cost)]
        for _ in range(self.max_length):
            grown: list[tuple[list[int], float]] = []
            for steps, _ in beam:
                self._apply(steps)
                for index in self.candidates():
                    half = self.dims[index] // 2
                    if half % 4 != 0:
                        continue
                    self._apply(steps + [index])
                    shards, cost = self.table_wise_shard()
                    grown.append((steps + [index], cost))
                    if cost < best[2]:
                        best = (steps + [index], shards, cost)
                    self._apply(steps)
            if not grown:
                break
            beam = sorted(grown, key=lambda x: x[1])[:self.k]
        self._apply(best[0])
        return best


def neuroshard(task: ShardingTask, models: CostModels, k: int = 3, n: int = 10, max_length: int = 10,
               search_steps: int = 11, name: str = "neuroshard") -> ShardingResult:
    """NeuroShard on `task`: the plan of the search, timed end to end (simulator set-up included)."""
    start = time.perf_counter()
    steps, shards, cost = NeuroSharder(ShardingSimulator(models, task), k, n, max_length, search_steps).shard()
    seconds = time.perf_counter() - start
    if shards is None:
        return ShardingResult(name, None, planning_seconds=seconds,
                              notes={"reason": "no placement within memory at any scale"})
    plan = Plan.from_column_splits(task, steps, shards)
    return ShardingResult(name, plan, planning_seconds=seconds,
                          notes={"column_splits": len(steps), "simulated_cost_ms": cost})
