"""Batches of torchrec ``Batch`` cut from the memory-mapped cache, vectorised and deterministic.

A split is read in *blocks* of consecutive rows (contiguous slices of the memory maps, so the disk
is read sequentially). For training the block order is a seeded permutation and the rows inside a
block are permuted too ("block shuffling"): the same (seed, epoch) always gives the same batches.
A batch is a slice of a block; its :class:`~torchrec.sparse.jagged_tensor.KeyedJaggedTensor` is
built from whole arrays (key-major values, lengths from offsets), never row by row.

Sharding for ``torch.distributed``: with ``world_size`` W, training rank r reads blocks r, r+W, …
of the epoch's permuted block order and every rank yields the same number of batches (the few
left over are dropped, as DistributedSampler(drop_last=True) does); evaluation ranks read
contiguous, disjoint row ranges that together cover the split exactly once.

Multi-hot and sequence features (MovieLens genres, Taobao histories) are jagged keys stored as CSR
(``<key>.values.npy`` + ``<key>.offsets.npy``); single-valued keys are columns of ``sparse.npy``.
Batches are built on the CPU; move them with ``batch.to(device, non_blocking=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torchrec.datasets.utils import Batch
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from harness.data.cache import load_npy
from harness.data.jagged import take_jagged

DEFAULT_BLOCK_BATCHES = 32


@dataclass(frozen=True)
class Rows:
    """Rows held in memory (or as memory-map slices): labels, dense, single-valued and jagged keys."""

    labels: np.ndarray
    dense: np.ndarray
    sparse: np.ndarray
    jagged: dict[str, tuple[np.ndarray, np.ndarray]]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class CachedSplit:
    """One split of a prepared cache, memory-mapped."""

    name: str
    rows: Rows
    jagged_keys: tuple[str, ...]

    @classmethod
    def open(cls, folder: Path, split: str, jagged_keys: Sequence[str] = ()) -> "CachedSplit":
        """Map the arrays of `split` in the cache `folder` (read-only)."""
        base = folder / split
        jagged = {k: (load_npy(base / f"{k}.values.npy"), load_npy(base / f"{k}.offsets.npy")) for k in jagged_keys}
        rows = Rows(load_npy(base / "labels.npy"), load_npy(base / "dense.npy"), load_npy(base / "sparse.npy"),
                    jagged)
        return cls(split, rows, tuple(jagged_keys))

    def __len__(self) -> int:
        return len(self.rows)

    def read(self, start: int, stop: int, order: np.ndarray | None = None) -> Rows:
        """Rows ``[start, stop)`` as in-memory arrays, reordered by `order` (a permutation) if given."""
        r = self.rows
        local = order if order is not None else np.arange(stop - start)
        labels, dense, sparse = (np.array(a[start:stop]) if order is None else a[start:stop][order]
                                 for a in (r.labels, r.dense, r.sparse))
        jagged = {}
        for key, (values, offsets) in r.jagged.items():
            off = np.asarray(offsets[start: stop + 1])
            vals = np.asarray(values[off[0]: off[-1]])
            jagged[key] = take_jagged(vals, off - off[0], local)
        return Rows(labels, dense, sparse, jagged)


_NUMPY_INDEX = {torch.int64: np.int64, torch.int32: np.int32}


def make_batch(rows: Rows, start: int, stop: int, keys: Sequence[str],
               index_dtype: torch.dtype = torch.int64, ones: torch.Tensor | None = None) -> Batch:
    """A torchrec Batch of rows ``[start, stop)`` of `rows` (keys: single-valued first, then jagged).

    `ones` may hold a reusable all-ones int32 lengths tensor of at least n_single × batch entries.
    """
    n = stop - start
    single = rows.sparse[start:stop]
    dtype = _NUMPY_INDEX[index_dtype]
    n_single = single.shape[1] * n
    values = [torch.from_numpy(np.ascontiguousarray(single.T, dtype=dtype).reshape(-1))]
    lengths = [ones[:n_single] if ones is not None and len(ones) >= n_single
               else torch.ones(n_single, dtype=torch.int32)]
    for vals, offsets in rows.jagged.values():
        off = offsets[start: stop + 1]
        values.append(torch.from_numpy(np.asarray(vals[off[0]: off[-1]], dtype=dtype)))
        lengths.append(torch.from_numpy(np.diff(off).astype(np.int32)))
    kjt = KeyedJaggedTensor(
        keys=list(keys),
        values=torch.cat(values) if len(values) > 1 else values[0],
        lengths=torch.cat(lengths) if len(lengths) > 1 else lengths[0],
    )
    return Batch(dense_features=torch.from_numpy(rows.dense[start:stop]), sparse_features=kjt,
                 labels=torch.from_numpy(rows.labels[start:stop]))


class BatchLoader:
    """Iterable of :class:`torchrec.datasets.utils.Batch` over one cached split (see the module docstring).

    `shuffle` turns on seeded block shuffling (call :meth:`set_epoch` each epoch for a new order);
    `drop_last` defaults to `shuffle` (train drops the ragged last batch, evaluation keeps it).
    """

    def __init__(self, split: CachedSplit, keys: Sequence[str], batch_size: int, shuffle: bool = False,
                 seed: int = 0, rank: int = 0, world_size: int = 1, drop_last: bool | None = None,
                 block_batches: int = DEFAULT_BLOCK_BATCHES, index_dtype: torch.dtype = torch.int64) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.split, self.keys, self.batch_size = split, list(keys), batch_size
        self.shuffle, self.seed, self.rank, self.world_size = shuffle, seed, rank, world_size
        self.drop_last = shuffle if drop_last is None else drop_last
        self.block_rows = batch_size * block_batches
        self.index_dtype = index_dtype
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffled order the next iteration follows."""
        self.epoch = epoch

    def _batches_in(self, rows: int) -> int:
        """Batches cut from `rows` rows."""
        full, rest = divmod(rows, self.batch_size)
        return full + int(rest > 0 and not self.drop_last)

    def _train_blocks(self) -> tuple[list[tuple[int, int]], int]:
        """This rank's blocks (start, stop) in the epoch's order, and how many batches it yields."""
        n = len(self.split)
        bounds = [(a, min(a + self.block_rows, n)) for a in range(0, n, self.block_rows)]
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(bounds))
            bounds = [bounds[i] for i in order]
        per_rank = [bounds[r:: self.world_size] for r in range(self.world_size)]
        counts = [sum(self._batches_in(b - a) for a, b in blocks) for blocks in per_rank]
        return per_rank[self.rank], min(counts)

    def _eval_range(self) -> tuple[int, int]:
        """This rank's contiguous row range of an unshuffled split."""
        n = len(self.split)
        return n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size

    def __len__(self) -> int:
        if self.shuffle or self.drop_last:
            return self._train_blocks()[1]
        a, b = self._eval_range()
        return self._batches_in(b - a)

    def __iter__(self) -> Iterator[Batch]:
        if self.shuffle or self.drop_last:
            blocks, budget = self._train_blocks()
        else:
            blocks, budget = [self._eval_range()], None
        rng = np.random.default_rng([self.seed, self.epoch, self.rank + 1])
        ones = torch.ones(self.batch_size * self.split.rows.sparse.shape[1], dtype=torch.int32)
        emitted = 0
        for start, stop in blocks:
            order = rng.permutation(stop - start) if self.shuffle else None
            rows = self.split.read(start, stop, order)
            for a in range(0, len(rows), self.batch_size):
                b = min(a + self.batch_size, len(rows))
                if b - a < self.batch_size and self.drop_last:
                    break
                if budget is not None and emitted >= budget:
                    return
                yield make_batch(rows, a, b, self.keys, self.index_dtype, ones)
                emitted += 1
