"""Split rules: which split (train / val / test) each source row goes to.

A rule is built from the row counts of the raw files (known after preprocessing pass 1) and
returns an assigner ``(global row ids, file index) -> split codes`` (0 train, 1 val, 2 test). The
protocol-specific rule of facebookresearch/dlrm lives with Criteo (:func:`.criteo.dlrm_split_rule`).
"""

from __future__ import annotations

import numpy as np

from harness.data.pipeline import SplitAssigner

SPLITS = ("train", "val", "test")
TRAIN, VAL, TEST = range(3)


def random_split_rule(file_rows: list[int], fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
                      seed: int = 2018) -> SplitAssigner:
    """A seeded random assignment of exactly round(fraction × rows) rows to train/val/test."""
    total = sum(file_rows)
    n_train = int(round(fractions[0] * total))
    n_val = int(round(fractions[1] * total))
    codes = np.full(total, TEST, dtype=np.uint8)
    perm = np.random.default_rng(seed).permutation(total)
    codes[perm[:n_train]] = TRAIN
    codes[perm[n_train: n_train + n_val]] = VAL

    def assign(row_ids: np.ndarray, file_index: int) -> np.ndarray:
        return codes[row_ids]

    return assign


def last_file_halved_rule(file_rows: list[int]) -> SplitAssigner:
    """Every file but the last trains; the last file's first half validates, its second half tests."""
    last_start = sum(file_rows[:-1])
    val_end = last_start + file_rows[-1] // 2

    def assign(row_ids: np.ndarray, file_index: int) -> np.ndarray:
        codes = np.full(len(row_ids), TRAIN, dtype=np.uint8)
        codes[(row_ids >= last_start) & (row_ids < val_end)] = VAL
        codes[row_ids >= val_end] = TEST
        return codes

    return assign
