"""NeuroShard's pre-trained neural cost models (Zha et al., MLSys'23, Sec. 3; daochenzha/neuroshard @ec7ca74).

* :class:`ComputeCostNet`: the multi-table compute cost of one fused shard. Each table's features go
  through a table MLP (``F -> 128 -> 32``, ReLU), the outputs are **summed** over the shard's tables
  and a prediction MLP (``32 -> 64 -> 1``) gives the shard's forward+backward time
  (``neuroshard/compute_cost_model.py``). Summing before a non-linear head lets it express a fused
  kernel whose cost is not the sum of its tables'.
* :class:`AdditiveCostNet`: the same table MLP with a linear head applied per table and summed: an
  additive predictor with the same features and training, the ablation of the non-linear head.
* :class:`CommCostNet`: per-device communication cost from the devices' dimension sums (backward)
  or dimension sums and straggler sleeps (forward), ``in -> 128 -> 64 -> 32 -> 16 -> D``
  (``neuroshard/comm_cost_model.py``).

Features are a table's ``table_configs.json`` keys in sorted order (``dict2tensor``: ``bin_0,
bin_1, bin_10 .. bin_16, bin_2 .. bin_9, dim, pooling_factor, row``), z-normalised with the mean
and standard deviation (+1e-6) of the training tables. Training: Adam, MSE, an 80/10/10 split,
the weights of the best validation MSE kept (``train``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from harness.sharding.tables import Table

FEATURE_NAMES = tuple(sorted(Table(0, 1, 1, 0.0, (0.0,) * 17).config()))


def table_features(tables: Sequence[Table]) -> torch.Tensor:
    """``[tables, 20]`` float32 features in the official ``dict2tensor`` order (sorted config keys)."""
    return torch.tensor([[float(t.config()[k]) for k in FEATURE_NAMES] for t in tables], dtype=torch.float32)


class Standardize(nn.Module):
    """``(x - mean) / (std + 1e-6)`` with the training data's statistics, stored with the model."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, data: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", data.mean(dim=0))
        self.register_buffer("std", data.std(dim=0) + 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The standardised input."""
        return (x - self.mean) / self.std


def mlp(sizes: Sequence[int], relu_last: bool) -> nn.Sequential:
    """Linear layers between consecutive `sizes`, ReLU after each (after the last only if `relu_last`)."""
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if relu_last or k < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ComputeCostNet(nn.Module):
    """NeuroShard's compute cost model: table MLP, sum over the shard, prediction MLP (module docstring)."""

    def __init__(self, normalizer: Standardize, num_features: int = len(FEATURE_NAMES),
                 table_mlp: Sequence[int] = (128, 32), pred_mlp: Sequence[int] = (64,)) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.width = table_mlp[-1]  # the summed representation's width
        self.table_mlp = mlp([num_features, *table_mlp], relu_last=True)
        self.pred_mlp = mlp([table_mlp[-1], *pred_mlp, 1], relu_last=False)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Per-table representations ``[tables, 32]`` of raw (unnormalised) features."""
        return self.table_mlp(self.normalizer(features))

    def forward(self, features: torch.Tensor, shard_ids: torch.Tensor, num_shards: int) -> torch.Tensor:
        """Predicted cost (ms) of each of `num_shards` shards; row i of `features` belongs to shard ``shard_ids[i]``."""
        pooled = torch.zeros(num_shards, self.width).index_add_(0, shard_ids, self.embed(features))
        return self.pred_mlp(pooled).view(-1)


class AdditiveCostNet(nn.Module):
    """The additive ablation: the same table MLP, a linear output per table, summed over the shard."""

    def __init__(self, normalizer: Standardize, num_features: int = len(FEATURE_NAMES),
                 table_mlp: Sequence[int] = (128, 32)) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.table_mlp = mlp([num_features, *table_mlp, 1], relu_last=False)

    def forward(self, features: torch.Tensor, shard_ids: torch.Tensor, num_shards: int) -> torch.Tensor:
        """Sum over each shard's tables of the per-table predicted cost (ms)."""
        per_table = self.table_mlp(self.normalizer(features)).view(-1)
        return torch.zeros(num_shards).index_add_(0, shard_ids, per_table)


class CommCostNet(nn.Module):
    """NeuroShard's communication cost model: an MLP from per-device inputs to per-device costs (ms)."""

    def __init__(self, normalizer: Standardize, num_inputs: int, ndevices: int,
                 hidden: Sequence[int] = (128, 64, 32, 16)) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.net = mlp([num_inputs, *hidden, ndevices], relu_last=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, ndevices]`` costs of ``[batch, num_inputs]`` raw inputs."""
        return self.net(self.normalizer(x))


@dataclass(frozen=True)
class ShardSamples:
    """Pre-training data of a shard cost model: shards as indices into `features` rows, and their costs."""

    features: torch.Tensor  # [tables, F] raw features of the (augmented) table list
    shards: tuple[tuple[int, ...], ...]
    costs: torch.Tensor  # [shards] ms

    def batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Features, shard ids and shard count of the samples `rows` (an index array)."""
        members = [self.shards[int(r)] for r in rows]
        index = torch.tensor([i for shard in members for i in shard], dtype=torch.long)
        ids = torch.repeat_interleave(torch.arange(len(members)), torch.tensor([len(s) for s in members]))
        return self.features[index], ids, len(members)


@dataclass(frozen=True)
class FitReport:
    """MSE of the kept weights on each split, and the epoch they come from."""

    train_mse: float
    val_mse: float
    test_mse: float
    best_epoch: int


def split_indices(count: int, seed: int, train: float = 0.8, val: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A shuffled 80/10/10 split of ``range(count)`` (official ``train`` methods)."""
    order = np.random.default_rng(seed).permutation(count)
    a, b = int(count * train), int(count * (train + val))
    return order[:a], order[a:b], order[b:]


def fit(model: nn.Module, predict: Callable[[nn.Module, np.ndarray], torch.Tensor], targets: torch.Tensor,
        splits: tuple[np.ndarray, np.ndarray, np.ndarray], epochs: int, batch_size: int, lr: float,
        seed: int) -> FitReport:
    """Adam on the MSE over the train split; the weights of the best validation MSE are kept (official)."""
    train, val, test = splits
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def mse(rows: np.ndarray) -> float:
        if len(rows) == 0:
            return float("nan")
        model.eval()
        with torch.no_grad():
            return float(((predict(model, rows) - targets[rows]) ** 2).mean())

    best = (float("inf"), 0, copy.deepcopy(model.state_dict()))
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(train)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = ((predict(model, rows) - targets[rows]) ** 2).mean()
            loss.backward()
            optimizer.step()
        score = mse(val if len(val) else train)
        if score < best[0]:
            best = (score, epoch, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    return FitReport(mse(train), mse(val), mse(test), best[1])


def train_shard_model(model: nn.Module, samples: ShardSamples, splits: tuple[np.ndarray, np.ndarray, np.ndarray],
                      epochs: int, batch_size: int, lr: float, seed: int) -> FitReport:
    """Fit a :class:`ComputeCostNet` or :class:`AdditiveCostNet` on measured shard costs."""
    def predict(net: nn.Module, rows: np.ndarray) -> torch.Tensor:
        return net(*samples.batch(rows))

    return fit(model, predict, samples.costs, splits, epochs, batch_size, lr, seed)


def train_comm_model(model: CommCostNet, inputs: torch.Tensor, targets: torch.Tensor, epochs: int,
                     batch_size: int, lr: float, seed: int) -> FitReport:
    """Fit a :class:`CommCostNet` on ``[samples, inputs]`` -> ``[samples, devices]``."""
    def predict(net: nn.Module, rows: np.ndarray) -> torch.Tensor:
        return net(inputs[torch.as_tensor(rows)])

    return fit(model, predict, targets, split_indices(len(inputs), seed), epochs, batch_size, lr, seed)


def predict_shards(model: nn.Module, features: torch.Tensor, shards: Sequence[Sequence[int]]) -> np.ndarray:
    """Predicted cost (ms) of each shard (rows of `features`) without gradients."""
    samples = ShardSamples(features, tuple(tuple(s) for s in shards), torch.zeros(len(shards)))
    model.eval()
    with torch.no_grad():
        return model(*samples.batch(np.arange(len(shards)))).numpy().astype(np.float64)
