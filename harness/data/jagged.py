"""Jagged (CSR) feature arrays: values plus offsets, as stored in the cache and cut into batches.

Kept free of torch so that preprocessing (which reorders jagged features between splits) does not
pay for importing it.
"""

from __future__ import annotations

import numpy as np


def take_jagged(values: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR sub-array of `rows` (any order), gathered with one vectorised index."""
    starts, ends = offsets[rows], offsets[rows + 1]
    lengths = ends - starts
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    index = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
    return np.asarray(values[index]), new_offsets
