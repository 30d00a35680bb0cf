"""Streaming loader of the facebookresearch/dlrm_datasets traces (``.pt`` and ``.pt.gz``).

Each file unpickles with ``torch.load`` to ``(indices, offsets, lengths)``: ``lengths`` is
``[tables, batch]``, ``offsets`` has ``tables*batch + 1`` entries and table t's bags are
``offsets[t*B : (t+1)*B + 1]`` (``process_data`` of the official ``gen_dlrm_data.py``). A file
is about 1-4 GB compressed and several times that in memory, so a gzipped file is decompressed in
chunks to a temporary file beside the cache and memory-mapped (``torch.load(mmap=True)``); one
table at a time is then read, never the whole trace.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import torch

from harness.atomic import atomic_path
from harness.errors import DataError
from harness.sharding.tables import Table, pooling_factors, reuse_bins, split_tables, table_rows

CHUNK_BYTES = 16 * 2**20


class TraceFile:
    """One dlrm_datasets trace, memory-mapped; tables are read one at a time.

    Use as a context manager (or call :meth:`close`): a ``.pt.gz`` file's decompressed copy is
    deleted on exit.
    """

    def __init__(self, path: "str | os.PathLike[str]", workdir: "str | os.PathLike[str] | None" = None,
                 progress: Callable[[int], None] | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: trace file not found; fetch it with git-lfs from "
                            "facebookresearch/dlrm_datasets (embedding_bag/...)")
        self._tmpdir: Path | None = None
        readable = self.path
        if self.path.suffix == ".gz":
            self._tmpdir = Path(tempfile.mkdtemp(prefix="trace-", dir=workdir))
            readable = self._tmpdir / self.path.stem
            _gunzip(self.path, readable, progress)
        self.indices, self.offsets, self.lengths = _load_checked(readable, self.path)
        self.num_tables, self.batch_size = (int(x) for x in self.lengths.shape)

    def __enter__(self) -> "TraceFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the tensors and delete the decompressed copy, if any."""
        self.indices = self.offsets = self.lengths = torch.empty(0)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    @property
    def fingerprint(self) -> str:
        """Identifies the trace (a cost-cache key component): name, byte size and mtime."""
        st = self.path.stat()
        return f"trace:{self.path.name}:{st.st_size}:{int(st.st_mtime)}"

    def table_batch(self, table: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Table `table`'s indices and 0-based offsets over the whole batch."""
        return split_tables(self.indices, self.offsets, self.num_tables, self.batch_size, table)

    def batch(self, raw_id: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `batch_size` samples of table `raw_id` (what the timing oracle feeds the kernel)."""
        if batch_size > self.batch_size:
            raise ValueError(f"{self.path}: batch {batch_size} larger than the trace's {self.batch_size}")
        indices, offsets = self.table_batch(raw_id)
        offsets = offsets[:batch_size + 1]
        return indices[:int(offsets[-1])].clone(), offsets.clone()

    def iter_tables(self, dims: "list[int] | int", truncate_pooling: bool) -> Iterator[Table]:
        """Every table's official features (``gen_dlrm_data.py``), one table in memory at a time."""
        pfs = pooling_factors(self.lengths, truncate_pooling)
        dim_list = [dims] * self.num_tables if isinstance(dims, int) else list(dims)
        for t in range(self.num_tables):
            indices, _ = self.table_batch(t)
            yield Table(raw_id=t, row=table_rows(indices), dim=int(dim_list[t]), pooling_factor=pfs[t],
                        bins=reuse_bins(indices))


def _gunzip(source: Path, target: Path, progress: Callable[[int], None] | None) -> None:
    """Decompress `source` into `target` in chunks (atomically), reporting bytes written."""
    written = 0
    try:
        with atomic_path(target) as tmp, gzip.open(source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(CHUNK_BYTES):
                dst.write(chunk)
                written += len(chunk)
                if progress is not None:
                    progress(written)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{source}: cannot decompress ({exc}); the download is truncated or not gzip; "
                        "fetch the file again") from exc


def _load_checked(readable: Path, shown: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(indices, offsets, lengths)`` of the file, memory-mapped, after checking the layout."""
    try:
        loaded = torch.load(readable, mmap=True, weights_only=True)
    except RuntimeError:
        loaded = torch.load(readable, weights_only=True)  # legacy (non-zip) format cannot be mapped
    except Exception as exc:
        raise DataError(f"{shown}: not a torch file ({exc}); expected torch.save((indices, offsets, lengths))") from exc
    if not (isinstance(loaded, (tuple, list)) and len(loaded) == 3 and all(isinstance(x, torch.Tensor) for x in loaded)):
        raise DataError(f"{shown}: expected a tuple (indices, offsets, lengths) of tensors, got {type(loaded).__name__}")
    indices, offsets, lengths = loaded
    if lengths.dim() != 2:
        raise DataError(f"{shown}: lengths must be [tables, batch], got shape {tuple(lengths.shape)}")
    tables, batch = lengths.shape
    if offsets.numel() != tables * batch + 1:
        raise DataError(f"{shown}: offsets has {offsets.numel()} entries, expected tables*batch+1 = {tables * batch + 1}")
    if int(offsets[-1]) != indices.numel():
        raise DataError(f"{shown}: last offset {int(offsets[-1])} != number of indices {indices.numel()}")
    return indices, offsets, lengths


def write_trace(path: "str | os.PathLike[str]", batches: "list[tuple[torch.Tensor, torch.Tensor]]",
                compress: bool | None = None) -> Path:
    """Write per-table ``(indices, 0-based offsets)`` of one common batch in the dlrm_datasets layout.

    Gzipped when `compress` (default: when the name ends in ``.gz``). Used to build test traces.
    """
    path = Path(path)
    batch = {int(o.numel()) - 1 for _, o in batches}
    if len(batch) != 1:
        raise ValueError(f"all tables need the same batch size, got {sorted(batch)}")
    lengths = torch.stack([o[1:] - o[:-1] for _, o in batches]).to(torch.int64)
    indices = torch.cat([i for i, _ in batches]).to(torch.int64)
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(lengths.flatten(), 0)])
    compress = path.suffix == ".gz" if compress is None else compress
    with atomic_path(path) as tmp:
        if compress:
            with gzip.GzipFile(tmp, "wb", compresslevel=1) as handle:
                torch.save((indices, offsets, lengths), handle)  # type: ignore[arg-type]  # a GzipFile is a binary file
        else:
            torch.save((indices, offsets, lengths), tmp)
    return path
