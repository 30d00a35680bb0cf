"""Categorical encoders: raw values (hashes, ids) to embedding-table indices, fitted in a streaming way.

* :class:`DictionaryEncoder`: one dictionary per key over the whole input, as in the
  facebookresearch/dlrm Criteo protocol (``data_utils.py``: every distinct value gets an index; the
  table size is the number of distinct values) and, with ``min_count > 1``, as in BARS/FuxiCTR
  (values seen fewer than ``min_count`` times share index 0, the out-of-vocabulary row).
  Each chunk contributes its distinct values and counts; :meth:`DictionaryEncoder.fit` merges them,
  so memory grows with the vocabulary, not with the file.
* :class:`ModuloEncoder`: ``index = value mod table_size`` (the "hashing trick" with capped tables,
  e.g. torchrec's Criteo 1TB ``--num_embeddings_per_feature``); needs no fitting pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

ChunkStats = dict[str, np.ndarray]


@dataclass
class DictionaryEncoder:
    """Per-key sorted vocabularies; index = position in the vocabulary (+1 with an OOV row)."""

    n_keys: int
    min_count: int = 1
    vocabularies: list[np.ndarray] = field(default_factory=list)
    stat_names: tuple[str, ...] = ("uniq_values", "uniq_counts", "uniq_lengths")  # what fit() reads

    @property
    def oov(self) -> bool:
        """Whether index 0 is reserved for rare and unseen values."""
        return self.min_count > 1

    def chunk_stats(self, cat: np.ndarray) -> ChunkStats:
        """Per key, the chunk's distinct values, their counts and each row's position among them.

        Distinct values come from a hash table (``pandas.factorize``, in order of appearance), not a
        sort. Positions are stored key-major (``[n_keys, n]``) so that pass 2 reads and writes
        contiguous rows. Pass 2 then maps only the distinct values to global indices
        (:meth:`encode_chunk`), not every row.
        """
        values, counts, lengths = [], [], []
        inverse = np.empty((self.n_keys, len(cat)), dtype=np.int32)
        for j in range(self.n_keys):
            codes, uniq = pd.factorize(cat[:, j])
            values.append(np.asarray(uniq))
            counts.append(np.bincount(codes, minlength=len(uniq)))
            lengths.append(len(uniq))
            inverse[j] = codes
        return {"uniq_values": np.concatenate(values), "uniq_counts": np.concatenate(counts).astype(np.int64),
                "uniq_lengths": np.asarray(lengths, dtype=np.int64), "uniq_inverse": inverse}

    def encode_chunk(self, load: Callable[[str], np.ndarray]) -> np.ndarray:
        """Indices [n, n_keys] of a stored chunk's rows, from its distinct values and per-row positions."""
        inverse = np.asarray(load("uniq_inverse"))
        values, lengths = np.asarray(load("uniq_values")), np.asarray(load("uniq_lengths"))
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        out: np.ndarray = np.empty(inverse.shape, dtype=self.index_dtype())
        for j in range(self.n_keys):
            out[j] = self.transform_column(j, values[bounds[j]: bounds[j + 1]])[inverse[j]]
        return np.ascontiguousarray(out.T)

    def fit(self, chunks: Sequence[Callable[[], ChunkStats]]) -> list[int]:
        """Merge the stats of every chunk into the vocabularies; returns the table sizes.

        One key at a time, so that memory holds the distinct values of one key (not of all keys).
        """
        self.vocabularies = []
        for j in range(self.n_keys):
            per_chunk_values, per_chunk_counts = [], []
            for load in chunks:
                stats = load()
                lengths = np.asarray(stats["uniq_lengths"])
                a = int(lengths[:j].sum())
                per_chunk_values.append(np.asarray(stats["uniq_values"][a: a + lengths[j]]))
                per_chunk_counts.append(np.asarray(stats["uniq_counts"][a: a + lengths[j]]))
            values = np.concatenate(per_chunk_values) if per_chunk_values else np.zeros(0, np.uint32)
            if not self.oov:
                self.vocabularies.append(np.sort(pd.unique(values)))  # hash first: sort only the distinct
                continue
            counts = np.concatenate(per_chunk_counts) if per_chunk_counts else np.zeros(0, np.int64)
            inverse, vocab = pd.factorize(values)
            totals = np.bincount(inverse, weights=counts, minlength=len(vocab))
            self.vocabularies.append(np.sort(np.asarray(vocab)[totals >= self.min_count]))
        return self.table_sizes()

    def dictionaries(self) -> list[np.ndarray]:
        """The sorted raw values behind the indices of each key (saved in the cache's ``dicts/``)."""
        return self.vocabularies

    def table_sizes(self) -> list[int]:
        """Embedding rows per key (vocabulary size, plus the OOV row if any)."""
        return [len(v) + int(self.oov) for v in self.vocabularies]

    def index_dtype(self) -> type:
        """int32 if every table fits, else int64."""
        return np.int32 if max(self.table_sizes(), default=0) < 2**31 else np.int64

    def transform_column(self, j: int, values: np.ndarray) -> np.ndarray:
        """Indices of the raw values of key `j`."""
        vocab = self.vocabularies[j]
        pos = np.searchsorted(vocab, values)
        if not self.oov:
            return pos.astype(self.index_dtype())
        if not len(vocab):
            return np.zeros(len(values), dtype=self.index_dtype())
        found = vocab[np.minimum(pos, len(vocab) - 1)] == values
        return np.where(found, pos + 1, 0).astype(self.index_dtype())

    def transform(self, cat: np.ndarray) -> np.ndarray:
        """Indices of raw values `cat` [n, n_keys]."""
        out: np.ndarray = np.empty(cat.shape, dtype=self.index_dtype())
        for j in range(self.n_keys):
            out[:, j] = self.transform_column(j, cat[:, j])
        return out


@dataclass
class ModuloEncoder:
    """``index = raw value mod size`` per key (sizes already capped by the protocol)."""

    sizes: list[int]
    stat_names: tuple[str, ...] = ()  # fit() reads nothing

    def dictionaries(self) -> list[np.ndarray]:
        """No dictionaries: the index is computed from the value."""
        return []

    def chunk_stats(self, cat: np.ndarray) -> ChunkStats:
        """Nothing to collect (the mapping is fixed): the chunk's raw values are kept for pass 2."""
        return {"cat": cat}

    def fit(self, chunks: Sequence[Callable[[], ChunkStats]]) -> list[int]:
        """Nothing to fit; returns the table sizes."""
        return self.table_sizes()

    def table_sizes(self) -> list[int]:
        """The capped table size of every key."""
        return list(self.sizes)

    def index_dtype(self) -> type:
        """int32 if every table fits, else int64."""
        return np.int32 if max(self.sizes, default=0) < 2**31 else np.int64

    def transform_column(self, j: int, values: np.ndarray) -> np.ndarray:
        """Raw values of key `j` modulo its size."""
        return (values.astype(np.int64) % self.sizes[j]).astype(self.index_dtype())

    def encode_chunk(self, load: Callable[[str], np.ndarray]) -> np.ndarray:
        """Indices of a stored chunk's raw values."""
        return self.transform(np.asarray(load("cat")))

    def transform(self, cat: np.ndarray) -> np.ndarray:
        """Raw values modulo each key's size."""
        return (cat.astype(np.int64) % np.asarray(self.sizes, dtype=np.int64)).astype(self.index_dtype())
