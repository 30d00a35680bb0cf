"""Deterministic fixtures shared by the asv suites (numpy's ``benchmarks/common.py`` pattern).

Everything here is seeded by numpy, so two runs of the suite, on two commits or two machines,
see the same bytes: a change in a ``track_*`` quality number then comes from the code, not the
data. Fixtures are small enough that ``asv run --quick`` stays within a few minutes on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.train.trainer import TensorBatches

SEED = 20240601


@dataclass(frozen=True)
class Shard:
    """A synthetic multi-task CTR shard: dense features ``[rows, dim]`` and 0/1 labels ``[rows, tasks]``."""

    features: np.ndarray
    labels: np.ndarray

    def rows(self, start: int, stop: int) -> "Shard":
        """The rows ``start:stop`` (a view, no copy)."""
        return Shard(self.features[start:stop], self.labels[start:stop])

    def batches(self, batch_size: int, shuffle: bool, seed: int = SEED) -> TensorBatches:
        """The shard as the trainer's re-iterable mini-batches."""
        return TensorBatches(torch.from_numpy(self.features), torch.from_numpy(self.labels),
                             batch_size=batch_size, shuffle=shuffle, seed=seed)


def synthetic_shard(rows: int, dim: int = 32, task_correlation: float = 0.5, tasks: int = 2,
                    seed: int = SEED) -> Shard:
    """Two or more binary tasks of controlled correlation, after MMoE's synthetic data.

    Ma et al., KDD 2018, Sec. 3.2: unit vectors ``u_1, u_2`` orthogonal, ``w_1 = u_1``,
    ``w_t = p u_1 + sqrt(1 - p^2) u_t``, ``y_t = w_t.x + sum_k sin(a_k w_t.x + b_k)`` with
    ``m = 10`` sinusoids. The paper regresses on ``y_t``; for CTR-like labels we standardise
    ``y_t`` and draw ``Bernoulli(sigmoid(2 y_t - 1))`` (a positive rate near 0.35, and label noise
    so that no model reaches AUC 1). The sinusoids make the tasks non-linear, so an MLP beats a
    logistic regression: a quality benchmark can tell them apart.
    """
    if not 0.0 <= task_correlation <= 1.0:
        raise ValueError(f"task_correlation must lie in [0, 1], got {task_correlation}")
    if tasks < 1 or tasks > dim:
        raise ValueError(f"need 1 <= tasks <= dim, got tasks={tasks}, dim={dim}")
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, tasks)))
    weights = [basis[:, 0]] + [task_correlation * basis[:, 0] + np.sqrt(1 - task_correlation**2) * basis[:, t]
                               for t in range(1, tasks)]
    alphas, betas = rng.standard_normal(10), rng.standard_normal(10)
    x = rng.standard_normal((rows, dim))
    labels = np.empty((rows, tasks), dtype=np.float32)
    for t, w in enumerate(weights):
        z = x @ w
        y = z + np.sin(np.outer(z, alphas) + betas).sum(axis=1)
        y = (y - y.mean()) / y.std()
        labels[:, t] = rng.random(rows) < 1.0 / (1.0 + np.exp(-(2.0 * y - 1.0)))
    return Shard(x.astype(np.float32), labels)


def synthetic_scores(rows: int, seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and 0/1 labels of a fair classifier (labels drawn from the logits' probabilities)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(rows).astype(np.float32) * 1.5 - 1.0
    labels = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return torch.from_numpy(logits), torch.from_numpy(labels)
