"""AutoShard's table feature vectors, the input of its cost model and policy.

AutoShard (``autoshard/bench.py`` ``GymWrapper``, daochenzha/autoshard @e861ecb) describes a table by
21 numbers: its dimension, rows and pooling factor, *standardised* with the mean and standard
deviation over every table of every training task (a table in two tasks counts twice; a zero
standard deviation only subtracts the mean), then its size in GB and its 17 reuse bins, raw. At
test time the training statistics are reused (the official ``feature_means`` / ``feature_stds``
arguments), so unseen tables are scaled like the training ones. DreamShard (normalised within each task)
and NeuroShard (20 features in ``dict2tensor`` order) describe tables differently in their
official code, so each paper keeps its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from harness.sharding.plan import ShardingTask
from harness.sharding.tables import NUM_BINS, Table

STANDARDISED = ("dims", "rows", "pooling_factors")
FEATURE_NAMES = STANDARDISED + ("sizes",) + tuple(f"bin_{j}" for j in range(NUM_BINS))
NUM_FEATURES = len(FEATURE_NAMES)


def _raw(table: Table) -> tuple[float, float, float]:
    return float(table.dim), float(table.row), float(table.pooling_factor)


@dataclass(frozen=True)
class FeatureScaler:
    """Means and standard deviations of dims, rows and pooling factors over the training tables."""

    means: tuple[float, float, float]
    stds: tuple[float, float, float]

    @classmethod
    def fit(cls, tasks: Sequence[ShardingTask]) -> "FeatureScaler":
        """Statistics over every table of every task (duplicates across tasks counted, as officially)."""
        raw = np.array([_raw(t) for task in tasks for t in task.tables], dtype=np.float64)
        if raw.size == 0:
            raise ValueError("FeatureScaler.fit needs at least one task with tables")
        return cls(tuple(float(x) for x in raw.mean(axis=0)), tuple(float(x) for x in raw.std(axis=0)))  # type: ignore[arg-type]

    def matrix(self, tables: Sequence[Table], fp16: bool) -> np.ndarray:
        """``[len(tables), 21]`` float32 features in :data:`FEATURE_NAMES` order."""
        raw = np.array([_raw(t) for t in tables], dtype=np.float64).reshape(-1, len(STANDARDISED))
        means, stds = np.asarray(self.means), np.asarray(self.stds)
        scaled = (raw - means) / np.where(stds == 0, 1.0, stds)
        sizes = np.array([[t.size_gb(fp16)] for t in tables], dtype=np.float64).reshape(-1, 1)
        bins = np.array([t.bins for t in tables], dtype=np.float64).reshape(-1, NUM_BINS)
        return np.concatenate([scaled, sizes, bins], axis=1).astype(np.float32)

    def task_matrix(self, task: ShardingTask) -> np.ndarray:
        """The features of a task's tables, in task order."""
        return self.matrix(task.tables, task.fp16)
