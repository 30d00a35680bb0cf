"""The prepared-data cache: one folder per dataset id and protocol hash, of memory-mapped ``.npy`` arrays.

Layout of ``<cache_dir>/<dataset id>-<protocol hash>/``::

    manifest.json            written last: its presence means "prepared" (see :func:`read_manifest`)
    <split>/labels.npy       float32 [N]
    <split>/dense.npy        float32 [N, D]
    <split>/sparse.npy       int32 or int64 [N, K], one index per categorical key
    <split>/row_ids.npy      int64 [N], the source row (0-based data line) of each sample
    <split>/<key>.values.npy, <key>.offsets.npy   jagged (multi-hot / sequence) features, CSR
    dicts/<key>.npy          the raw values behind each categorical index (where dictionaries are built)
    chunks/                  pass-1 partial results while preparing; removed when done

Pass 1 of a preprocessing run stores each finished chunk in ``chunks/`` (arrays first, then a
marker), so a killed run resumes after its last finished chunk. Every file is written under a
temporary name and renamed; disk space is reserved before an array is written (by appending rows,
not through a memory map, so memory stays flat in the file size), so a full disk gives a clear
error instead of a crash, and leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from harness.atomic import atomic_path, write_json
from harness.data.catalog import sha256_of
from harness.errors import DataError

CACHE_ENV = "REPRO_CACHE_DIR"
MANIFEST = "manifest.json"
CACHE_FORMAT = 2  # 2: key-major chunk statistics (pass-1 chunks of format 1 must not be resumed)


def resolve_cache_dir(flag: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: `flag`, else ``$REPRO_CACHE_DIR``, else ``$XDG_CACHE_HOME/recrepro/prepared``."""
    if flag:
        return Path(flag).expanduser().resolve()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recrepro" / "prepared"


def protocol_hash(params: dict[str, Any]) -> str:
    """A short stable hash of the protocol parameters (and raw-file identity) naming a cache folder."""
    text = json.dumps({"format": CACHE_FORMAT, **params}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cache_folder(cache_dir: Path, dataset_id: str, params: dict[str, Any]) -> Path:
    """The folder holding the cache of `dataset_id` prepared with `params`."""
    return cache_dir / f"{dataset_id}-{protocol_hash(params)}"


@contextlib.contextmanager
def disk_errors(where: Path) -> Iterator[None]:
    """Turn a full disk (or quota) into a DataError naming `where`; other OSErrors pass through."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DataError(f"{where}: the disk is full (or over quota) while writing the prepared cache. "
                            f"Nothing partial was kept; free some space or point --cache-dir / "
                            f"${CACHE_ENV} at a larger disk, then prepare again.") from exc
        raise


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write `array` to `path` as ``.npy`` atomically."""
    with disk_errors(path), atomic_path(path) as tmp:
        with tmp.open("wb") as handle:
            np.save(handle, np.ascontiguousarray(array), allow_pickle=False)


def load_npy(path: Path, mmap: bool = True) -> np.ndarray:
    """Open a cached array read-only (memory-mapped by default)."""
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def read_npy_blocks(path: Path, block_rows: int = 1 << 20) -> Iterator[np.ndarray]:
    """Consecutive row blocks of a cached ``.npy`` array, read with plain file reads.

    Scans of whole arrays (the integrity checks) use this instead of a memory map: pages of a map
    count in the process's resident memory while it is open, so a mapped scan would grow with the file.
    """
    with path.open("rb") as handle:
        major, _ = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        if fortran:
            raise DataError(f"{path}: a Fortran-ordered array; the cache only writes C order. Prepare again.")
        row_shape = tuple(shape[1:])
        per_row = int(np.prod(row_shape, dtype=np.int64))
        for start in range(0, shape[0] if shape else 0, block_rows):
            n = min(block_rows, shape[0] - start)
            yield np.fromfile(handle, dtype=dtype, count=n * per_row).reshape((n, *row_shape))


class NpyAppender:
    """One ``.npy`` file of known shape, written front to back by appending whole rows.

    Plain appending writes, not a memory map: written pages belong to the page cache, not to the
    process, so the writer's memory does not grow with the array.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype | type) -> None:
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)
        self.rows = 0
        self._handle = path.open("wb")
        try:
            header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(self._handle, header)
            self._handle.flush()
            size = self._handle.tell() + int(np.prod(shape, dtype=np.int64)) * self.dtype.itemsize
            os.posix_fallocate(self._handle.fileno(), 0, size)
        except BaseException:
            self._handle.close()
            raise

    def append(self, rows: np.ndarray) -> None:
        """Write `rows` (shape ``[n, *shape[1:]]``) after the rows written so far."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.shape[1:] or self.rows + len(rows) > self.shape[0]:
            raise ValueError(f"{self.path}: rows of shape {rows.shape} do not fit the array {self.shape} "
                             f"after {self.rows} rows")
        self._handle.write(rows.reshape(-1).view(np.uint8).data)
        self.rows += len(rows)

    @property
    def complete(self) -> bool:
        """Whether every row the header promises has been written."""
        return self.rows == self.shape[0]

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


class ArrayWriter:
    """Output arrays written by appending rows, renamed into place together on success.

    Use as a context manager; :meth:`create` reserves the disk space of each array up front, so a
    full disk fails before any data is written.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._stack = contextlib.ExitStack()
        self._arrays: list[NpyAppender] = []

    def __enter__(self) -> "ArrayWriter":
        self._stack.__enter__()
        self._stack.enter_context(disk_errors(self.folder))
        return self

    def create(self, name: str, shape: tuple[int, ...], dtype: np.dtype | type) -> NpyAppender:
        """An appender for ``<folder>/<name>.npy`` of `shape` and `dtype`, its space reserved.

        Temporary files of the same array left by a killed run (``kill -9`` skips the cleanup of
        :func:`~harness.atomic.atomic_path`) are removed first: they can hold gigabytes and
        no later run would reuse them. One process prepares a cache folder at a time (under
        torchrun, rank 0 first), so no other writer owns them.
        """
        target = self.folder / f"{name}.npy"
        if target.parent.is_dir():
            for stale in target.parent.glob(f".{target.name}.*.tmp"):
                stale.unlink(missing_ok=True)
        tmp = self._stack.enter_context(atomic_path(target))
        appender = NpyAppender(tmp, tuple(int(d) for d in shape), dtype)
        self._stack.callback(appender.close)
        self._arrays.append(appender)
        return appender

    def __exit__(self, *exc: Any) -> bool | None:
        short = next((a for a in self._arrays if not a.complete), None) if exc[0] is None else None
        self._arrays.clear()
        if short is not None:
            error = ValueError(f"{short.path}: {short.rows} rows written, the array holds {short.shape[0]}")
            self._stack.__exit__(ValueError, error, None)
            raise error
        return self._stack.__exit__(*exc)


class ChunkStore:
    """Pass-1 results, one numbered chunk at a time, each either complete (with its marker) or absent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "chunks"

    def markers(self) -> list[dict[str, Any]]:
        """The metadata of every finished chunk, in chunk order (a prefix: 0, 1, 2 …)."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*.done.json")):
            found.append(json.loads(path.read_text()))
        found.sort(key=lambda m: m["index"])
        prefix = [m for i, m in enumerate(found) if m["index"] == i]
        return prefix

    def save(self, index: int, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Store chunk `index`: its arrays first, then the marker that makes it count as done."""
        for name, array in arrays.items():
            save_npy(self.folder / f"{index:06d}.{name}.npy", array)
        write_json(self.folder / f"{index:06d}.done.json", {"index": index, **meta})

    def load(self, index: int, name: str) -> np.ndarray:
        """Array `name` of chunk `index` (memory-mapped)."""
        return load_npy(self.folder / f"{index:06d}.{name}.npy")

    def clear(self) -> None:
        """Remove every stored chunk (after the final arrays are in place)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a prepared cache folder, or None if it is not (completely) prepared."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every ``.npy`` file under `folder` except pass-1 chunks, keyed by relative path."""
    return {str(p.relative_to(folder)): sha256_of(p)
            for p in sorted(folder.rglob("*.npy")) if "chunks" not in p.relative_to(folder).parts}


def file_stats(folder: Path) -> dict[str, list[int]]:
    """(size, mtime in ns) of every cached file but pass-1 chunks: a cheap fingerprint of an unchanged cache."""
    return {str(p.relative_to(folder)): [p.stat().st_size, p.stat().st_mtime_ns]
            for p in sorted(folder.rglob("*.npy")) if "chunks" not in p.relative_to(folder).parts}
