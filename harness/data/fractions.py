"""Training on a fraction of the training split: nested prefixes of one fixed shuffled order.

A data-scaling sweep (Ardalani et al. 2022, "Understanding Scaling Laws for Recommendation
Models", Sec. on data scaling) trains the same model on growing amounts of data. To make the
points comparable, each amount is a prefix of one permutation of the training rows, drawn once
from `order_seed` and shared by every point and every training seed: the rows of a smaller
fraction are a subset of those of every larger one, and the seed only changes the model's
initialisation and batch order. Validation and test splits are untouched.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from harness.data.api import Splits
from harness.data.jagged import take_jagged
from harness.data.loader import BatchLoader, CachedSplit, Rows
from harness.errors import ConfigError


def prefix_rows(total: int, fraction: float, order_seed: int) -> np.ndarray:
    """The first ``round(fraction × total)`` rows of the permutation of ``range(total)`` drawn from `order_seed`.

    Prefixes of one order are nested: a smaller fraction's rows are a subset of a larger one's.
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"data fraction {fraction!r} must be in (0, 1]; 1 is the whole training split")
    count = int(round(fraction * total))
    if count < 1:
        raise ConfigError(f"data fraction {fraction:g} of {total} training rows keeps no row; use a larger fraction")
    return np.random.default_rng(order_seed).permutation(total)[:count]


def take_rows(split: CachedSplit, rows: np.ndarray) -> CachedSplit:
    """The rows `rows` of `split` (in that order) as an in-memory split of the same keys."""
    r = split.rows
    jagged = {key: take_jagged(values, offsets, rows) for key, (values, offsets) in r.jagged.items()}
    taken = Rows(np.asarray(r.labels[rows]), np.asarray(r.dense[rows]), np.asarray(r.sparse[rows]), jagged)
    return CachedSplit(split.name, taken, split.jagged_keys)


def with_train_fraction(splits: Splits, fraction: float, order_seed: int = 0) -> Splits:
    """`splits` whose training loader reads only the nested prefix `fraction` of the training rows
    (:func:`prefix_rows`); batch size, shuffling seed and sharding are the original loader's."""
    if fraction == 1.0:
        return splits
    train = splits.train
    subset = take_rows(train.split, prefix_rows(len(train.split), fraction, order_seed))
    loader = BatchLoader(subset, train.keys, train.batch_size, shuffle=train.shuffle, seed=train.seed,
                         rank=train.rank, world_size=train.world_size, drop_last=train.drop_last,
                         index_dtype=train.index_dtype)
    return dataclasses.replace(splits, train=loader)
