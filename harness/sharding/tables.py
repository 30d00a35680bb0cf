"""A table's features and the official feature extraction of the sharding papers.

``gen_dlrm_data.py`` is the same in daochenzha/autoshard @e861ecb, daochenzha/dreamshard @73128ed
and daochenzha/neuroshard @ec7ca74 except for the pooling factor's truncation. From one batch of a
table's ``(indices, offsets)`` it computes

* ``row = max(100, max(indices) + 1)`` (``1`` before the max when the table has no index),
* ``pooling_factor = mean(lengths)`` in float32 over the batch, ``int``-truncated in AutoShard and
  DreamShard, kept as a float in NeuroShard,
* ``bin_0 .. bin_16``: the fraction of the *unique accessed rows* whose access count ``c`` lies in
  ``(0,1], (1,2], (2,4], ..., (16384,32768], (32768, inf)`` (all zeros for an empty table).

The dimension is not in the data; each protocol assigns it (:mod:`harness.sharding.tasks`).
Sizes are ``row * dim * (2 if fp16 else 4) / 2**30`` GB (``table_size`` of the three repos).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

NUM_BINS = 17
MIN_ROWS = 100


@dataclass(frozen=True)
class Table:
    """One embedding table of a sharding task: its features, its dimension and its pool id.

    ``raw_id`` is the table's index in the pool the task was drawn from (the row of
    ``table_configs.json``); the cost oracles look its trace up by that id.
    """

    raw_id: int
    row: int
    dim: int
    pooling_factor: float
    bins: tuple[float, ...]

    def size_gb(self, fp16: bool) -> float:
        """The table's size in GB as the official ``table_size(row, dim, fp16)`` computes it."""
        return table_size_gb(self.row, self.dim, fp16)

    def with_dim(self, dim: int) -> "Table":
        """The same table with another dimension (a column shard, or a protocol's dim draw)."""
        return replace(self, dim=int(dim))

    def config(self) -> dict[str, float]:
        """The table as an official ``table_configs.json`` entry (without ``index``)."""
        out: dict[str, float] = {"row": self.row, "dim": self.dim, "pooling_factor": self.pooling_factor}
        out.update({f"bin_{j}": b for j, b in enumerate(self.bins)})
        return out


def table_size_gb(row: int, dim: int, fp16: bool) -> float:
    """``row * dim`` elements of 2 (fp16) or 4 (fp32) bytes, in GiB (official ``table_size``)."""
    gb_size = row * dim / (1024 * 1024 * 1024)
    return 2 * gb_size if fp16 else 4 * gb_size


def reuse_bins(indices: torch.Tensor) -> tuple[float, ...]:
    """The 17-bin histogram of unique rows by access count, normalised by the unique rows.

    Bit-identical to the official loop: counts of counts of the indices (the official code calls
    ``torch.unique`` twice on the GPU; numpy's sort-based unique gives the same integers and is
    faster on CPU), then ``start, end = 0, 1`` and 16 times ``start < c <= end; start = end;
    end *= 2``, then ``c > 32768``; each bin's integer count divided by the unique rows.
    """
    _, counts = np.unique(indices.numpy(), return_counts=True)
    unique_counts, counts_counts = np.unique(counts, return_counts=True)
    total = int(counts_counts.sum())
    if total == 0:
        return tuple(0.0 for _ in range(NUM_BINS))
    bins = []
    start, end = 0, 1
    for _ in range(NUM_BINS - 1):
        bins.append(int(counts_counts[(unique_counts > start) & (unique_counts <= end)].sum()))
        start, end = end, end * 2
    bins.append(int(counts_counts[unique_counts > start].sum()))
    return tuple(x / total for x in bins)


def table_rows(indices: torch.Tensor) -> int:
    """``max(100, max index + 1)``, or 100 for a table without indices (official ``row``)."""
    row = int(indices.max().int().item()) + 1 if len(indices) > 0 else 1
    return max(MIN_ROWS, row)


def pooling_factors(lengths: torch.Tensor, truncate: bool) -> list[float]:
    """Per-table mean bag length of a ``[tables, batch]`` lengths tensor, in float32 like the official
    ``lengths.float().mean(dim=1)``; ``int``-truncated when `truncate` (AutoShard, DreamShard)."""
    means = lengths.float().mean(dim=1).tolist()
    return [float(int(m)) for m in means] if truncate else means


def split_tables(indices: torch.Tensor, offsets: torch.Tensor, num_tables: int,
                 batch_size: int, table: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Table `table`'s indices and 0-based offsets (``batch_size + 1`` of them) out of a fused trace.

    The dlrm_datasets layout: ``offsets`` has ``num_tables * batch_size + 1`` entries, table ``t``'s
    bags are ``offsets[t*B : (t+1)*B + 1]`` (official ``process_data``).
    """
    if not 0 <= table < num_tables:
        raise IndexError(f"table {table} out of range [0, {num_tables})")
    table_offsets = offsets[table * batch_size:(table + 1) * batch_size + 1]
    table_indices = indices[int(table_offsets[0]):int(table_offsets[-1])]
    return table_indices, table_offsets - table_offsets[0]


def table_from_batch(raw_id: int, indices: torch.Tensor, offsets: torch.Tensor, dim: int,
                     truncate_pooling: bool) -> Table:
    """One table's features from its own batch (0-based ``offsets`` of ``batch + 1`` entries)."""
    lengths = (offsets[1:] - offsets[:-1]).view(1, -1)
    return Table(raw_id=raw_id, row=table_rows(indices), dim=int(dim),
                 pooling_factor=pooling_factors(lengths, truncate_pooling)[0], bins=reuse_bins(indices))
