"""Read a large text file (plain or gzip) as blocks of whole lines, resumable from a byte offset.

Parsers never see a file line by line: they get a block of several megabytes that ends on a
newline, together with the uncompressed byte offset and the 1-based number of its first line, so
that an error can name ``file:line`` and a killed preprocessing run can restart at the end of the
last finished block. A truncated or corrupt gzip stream, an empty file and a missing file become a
:class:`~harness.errors.DataError` naming the file and the fix.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from harness.data.access import check_readable_file
from harness.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_BLOCK_BYTES = 16 << 20


@dataclass(frozen=True)
class TextBlock:
    """Whole lines of a file: `data` starts at uncompressed byte `start` and line `first_line` (1-based)."""

    data: bytes
    start: int
    first_line: int

    @property
    def end(self) -> int:
        """The uncompressed byte offset just after this block (where the next block starts)."""
        return self.start + len(self.data)

    @cached_property
    def n_lines(self) -> int:
        """How many lines the block holds (a last line without a newline counts); counted once."""
        return int(np.count_nonzero(np.frombuffer(self.data, dtype=np.uint8) == 10)) + \
            (0 if self.data.endswith(b"\n") else 1)


def is_gzip(path: Path) -> bool:
    """True if `path` starts with the gzip magic bytes (whatever its suffix)."""
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_raw(path: Path) -> BinaryIO:
    """Open `path` for binary reading, decompressing gzip transparently; a DataError if it is missing or unreadable."""
    check_readable_file(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found. Place the dataset's raw file there, or pass its "
                        f"location with --raw / --data-dir.")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes); it was probably cut off while copying or "
                        f"downloading. Fetch it again.")
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")  # type: ignore[return-value]


def _skip(handle: BinaryIO, offset: int, path: Path) -> None:
    """Move `handle` to uncompressed byte `offset` (a seek for plain files, a read for gzip)."""
    if isinstance(handle, gzip.GzipFile):
        remaining = offset
        while remaining:
            got = handle.read(min(remaining, 16 << 20))
            if not got:
                raise DataError(f"{path}: ended before byte {offset} where the interrupted run stopped; "
                                f"the file changed since. Delete the cache folder and prepare again.")
            remaining -= len(got)
    else:
        handle.seek(offset)


BlockCut = Callable[[bytes], int]


def after_last_line(data: bytes) -> int:
    """The default block end: just after the last complete line (0: no complete line yet)."""
    return data.rfind(b"\n") + 1


def before_last_group(data: bytes) -> int:
    """A block end that keeps groups of lines whole: before the trailing run of lines sharing their first field.

    For files grouped by a key in the first field (Taobao ``UserBehavior.csv`` by user), so that a
    block holds every line of each of its keys. 0 (read more) while one group fills all of `data`.
    """
    end = data.rfind(b"\n") + 1
    if end == 0:
        return 0
    start = data.rfind(b"\n", 0, end - 1) + 1
    comma = data.find(b",", start, end)
    key = data[start: comma + 1 if comma >= 0 else end]
    while start > 0:
        previous = data.rfind(b"\n", 0, start - 1) + 1
        if not data.startswith(key, previous):
            break
        start = previous
    return start


def iter_blocks(path: Path, block_bytes: int = DEFAULT_BLOCK_BYTES, start: int = 0,
                first_line: int = 1, cut: BlockCut = after_last_line) -> Iterator[TextBlock]:
    """Yield consecutive blocks of whole lines of `path`, beginning at byte `start` / line `first_line`.

    `cut` chooses where a block ends inside the bytes read so far (the rest carries over).
    """
    try:
        with open_raw(path) as handle:
            _skip(handle, start, path)
            carry = b""
            offset, line = start, first_line
            while True:
                chunk = handle.read(block_bytes)
                if not chunk:
                    break
                data = carry + chunk
                end = cut(data)
                if end == 0:
                    carry = data
                    continue
                block = TextBlock(data=data[:end], start=offset, first_line=line)
                carry = data[end:]
                offset, line = block.end, line + block.n_lines
                yield block
            if carry:
                yield TextBlock(data=carry, start=offset, first_line=line)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: the gzip stream is truncated or corrupt ({exc}). The download or copy "
                        f"was cut off: delete the file and fetch it again.") from exc


def line_text(block: TextBlock, index: int, limit: int = 160) -> str:
    """The text of line `index` (0-based within `block`), shortened to `limit` characters for messages."""
    start = 0
    for _ in range(index):
        start = block.data.index(b"\n", start) + 1
    end = block.data.find(b"\n", start)
    end = len(block.data) if end < 0 else end
    text = block.data[start: min(end, start + 4 * limit)].decode("utf-8", errors="replace")
    text = text.replace("\t", "\\t").replace("\r", "\\r")
    if len(text) <= limit and end - start <= 4 * limit:
        return text
    return text[:limit] + f"… ({end - start:,} bytes)"
