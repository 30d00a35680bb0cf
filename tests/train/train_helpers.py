"""Helpers for trainer tests: a smoke-scale DLRM on random CTR batches, a linear model on random ratings."""

from __future__ import annotations

import torch
from torch import nn

from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.synthetic import BatchList, random_ctr_batches
from harness.train.trainer import TensorBatch, TensorBatches, TrainConfig

ROWS = [100, 50, 200, 30]


def small_dlrm(backend: str = "torchrec") -> DLRM:
    """A DLRM of the reference shape, scaled down (4 tables, dim 8)."""
    return DLRM.from_tables([4, 16, 8], [16, 1], make_tables([f"f{i}" for i in range(len(ROWS))], ROWS, 8), backend=backend)


def small_splits(batch_size: int = 32) -> tuple[BatchList, dict[str, BatchList]]:
    """Train (30 batches, reshuffled per epoch), validation and test (6 each) random CTR batches."""
    data = random_ctr_batches(42, batch_size, 4, ROWS, seed=3)
    return BatchList(data[:30], shuffle=True, seed=5), {"val": BatchList(data[30:36]), "test": BatchList(data[36:])}


# Long enough (300 steps) for the kill -9 test to land mid-training, short enough to stay fast.
RESUME_CONFIG = TrainConfig(epochs=10, lr=0.1, optimizer="adagrad", sparse_optimizer="rowwise_adagrad",
                            eval_every_steps=40, checkpoint_every_steps=25)


class LinearRating(nn.Module):
    """A linear map from a :class:`TensorBatch`'s features to one predicted rating per row."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(num_features, 1)

    def forward(self, batch: TensorBatch) -> torch.Tensor:
        """Predicted ratings, shape ``[batch]``."""
        return self.linear(batch.features).squeeze(-1)


def rating_splits(batch_size: int = 32) -> tuple[TensorBatches, dict[str, TensorBatches]]:
    """Train (480 rows, reshuffled per epoch), validation and test (60 each) of noisy linear ratings around 3.5."""
    gen = torch.Generator().manual_seed(7)
    features = torch.randn(600, 4, generator=gen)
    ratings = 3.5 + features @ torch.tensor([1.0, -0.5, 0.25, 0.0]) + 0.3 * torch.randn(600, generator=gen)

    def part(rows: slice, shuffle: bool = False) -> TensorBatches:
        return TensorBatches(features[rows], ratings[rows], batch_size, shuffle=shuffle, seed=5)
    return part(slice(0, 480), shuffle=True), {"val": part(slice(480, 540)), "test": part(slice(540, 600))}
