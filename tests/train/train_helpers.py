"""Helpers for trainer tests: a smoke-scale DLRM on random CTR batches."""

from __future__ import annotations


from repro.harness.models.dlrm import DLRM
from repro.harness.models.embedding import make_tables
from repro.harness.train.synthetic import BatchList, random_ctr_batches
from repro.harness.train.trainer import TrainConfig

ROWS = [100, 50, 200, 30]


def small_dlrm(backend: str = "torchrec") -> DLRM:
    """A DLRM of the reference shape, scaled down (4 tables, dim 8)."""
    return DLRM([4, 16, 8], [16, 1], make_tables([f"f{i}" for i in range(len(ROWS))], ROWS, 8), backend=backend)


def small_splits(batch_size: int = 32) -> tuple[BatchList, dict[str, BatchList]]:
    """Train (30 batches, reshuffled per epoch), validation and test (6 each) random CTR batches."""
    data = random_ctr_batches(42, batch_size, 4, ROWS, seed=3)
    return BatchList(data[:30], shuffle=True, seed=5), {"val": BatchList(data[30:36]), "test": BatchList(data[36:])}


# Long enough (300 steps) for the kill -9 test to land mid-training, short enough to stay fast.
RESUME_CONFIG = TrainConfig(epochs=10, lr=0.1, optimizer="adagrad", sparse_optimizer="rowwise_adagrad",
                            eval_every_steps=40, checkpoint_every_steps=25)
