"""Parse a block of delimited text lines into typed columns, with file:line errors for malformed lines.

Shared by every raw format (Criteo TSV, MovieLens ``u.data`` / ``ratings.dat`` / ``ratings.csv``,
Taobao CSV). The line structure is checked with whole-array operations (field counts by counting
separators per line, carriage returns, empty lines); pyarrow's multi-threaded CSV reader then
converts the fields; a format-specific `convert` turns the table into numpy arrays and reports rows
with bad values. A block whose separator count, carriage returns and empty lines show nothing
wrong skips the per-line checks and goes straight to pyarrow (which rejects wrong field counts). A malformed line raises :class:`BadLineError` naming ``file:line``, the reason, the
text and the fix, unless ``skip_bad_lines`` is set: then it is dropped and counted. Only blocks that
hold a bad (or padded) line take the slower per-line path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from harness.data.textblocks import TextBlock, line_text
from harness.errors import DataError

Arrays = tuple[np.ndarray, ...]
Converter = Callable[[pa.Table], tuple[Arrays, dict[int, str]]]


class BadLineError(DataError):
    """A malformed line of a raw file; the message names the file, the line, the field and the fix."""


@dataclass(frozen=True)
class LineFormat:
    """A delimited line format: its name (for messages), one-byte separator, columns and their types.

    `min_fields` < len(columns) accepts lines whose trailing empty fields were stripped (padded back);
    `header` is a prefix that marks a header line (skipped if it is line 1); `replace` rewrites a
    multi-byte separator (``::``) into the one-byte `sep` before parsing; `patterns` are the regexes a
    field must match (with a description for messages), used to find the culprit rows when pyarrow's conversion fails.
    """

    name: str
    sep: bytes
    columns: tuple[str, ...]
    types: dict[str, pa.DataType]
    patterns: dict[str, tuple[str, str]] = field(default_factory=dict)
    min_fields: int | None = None
    header: bytes | None = None
    replace: tuple[bytes, bytes] | None = None

    @property
    def fields(self) -> int:
        """The number of fields of a complete line."""
        return len(self.columns)


@dataclass(frozen=True)
class ParsedBlock:
    """The arrays of the good lines of a block, their 0-based line index in it, and the counts."""

    arrays: Arrays
    lines: np.ndarray
    skipped: int
    padded: int


def line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without the newline) byte offsets of every line of `data`."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if data and not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    starts = np.zeros_like(ends)
    starts[1:] = ends[:-1] + 1
    return starts, ends


def _field_counts(data: bytes, starts: np.ndarray, sep: bytes) -> np.ndarray:
    """Number of `sep`-separated fields on every line."""
    if not len(starts):
        return np.zeros(0, np.int32)
    is_sep = (np.frombuffer(data, dtype=np.uint8) == sep[0]).view(np.uint8)
    return np.add.reduceat(is_sep, starts, dtype=np.int32) + 1


def _line_problems(fmt: LineFormat, data: bytes, starts: np.ndarray,
                   ends: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """Per line, how many stripped empty fields to append, and the reason for every malformed line."""
    fields = _field_counts(data, starts, fmt.sep)
    fields[ends == starts] = 0
    problems: dict[int, str] = {}
    if b"\r" in data:
        cr = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 13)
        for line in np.unique(np.searchsorted(ends, cr)):
            problems[int(line)] = ("the line ends with a carriage return (Windows CRLF line endings); "
                                   "convert the file with `dos2unix` or `sed -i 's/\\r$//'`")
    for line in np.flatnonzero(ends == starts):
        problems.setdefault(int(line), "the line is empty")
    low = fmt.min_fields or fmt.fields
    sep_name = {b"\t": "tab", b",": "comma"}.get(fmt.sep, repr(fmt.sep.decode()))
    for line in np.flatnonzero((fields < low) | (fields > fmt.fields)):
        if int(line) not in problems:
            hint = f" (is the file {sep_name}-separated? it should be)" if fields[line] == 1 else ""
            expected = f"{fmt.fields}" if low == fmt.fields else f"{low}-{fmt.fields}"
            problems[int(line)] = f"it has {fields[line]} {sep_name}-separated fields, expected {expected}{hint}"
    pad = np.where((fields >= low) & (fields < fmt.fields), fmt.fields - fields, 0)
    return pad, problems


def _rebuild(data: bytes, keep: np.ndarray, pad: np.ndarray, sep: bytes) -> bytes:
    """The lines of `data` selected by `keep`, each padded with `pad` empty fields (the slow path)."""
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    out = [lines[i] + sep * int(pad[i]) for i in np.flatnonzero(keep)]
    return b"\n".join(out) + b"\n" if out else b""


def raise_or_skip(fmt: LineFormat, path: Path, block: TextBlock, lines: np.ndarray, problems: dict[int, str],
                  skip_bad_lines: bool) -> None:
    """Raise a BadLineError for the first of `problems` (row -> reason) unless skipping is allowed."""
    if problems and not skip_bad_lines:
        row = min(problems)
        index = int(lines[row])
        raise BadLineError(
            f"{path}:{block.first_line + index}: malformed {fmt.name} line: {problems[row]}.\n"
            f"  text: {line_text(block, index)}\n"
            f"Fix the file, or pass --skip-bad-lines to drop such lines (their count is recorded in the manifest).")


READ_BLOCK_BYTES = 1 << 20


def read_table(fmt: LineFormat, data: bytes, types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Split `data` into typed columns with pyarrow (multi-threaded); empty fields become nulls.

    pyarrow reads in blocks of :data:`READ_BLOCK_BYTES` (one per thread) and refuses a line longer
    than a block ("straddling object"); such a block is read again as one block, so a line of any
    length reaches the line checks, which name it.
    """
    try:
        return _read_csv(fmt, data, types, READ_BLOCK_BYTES)
    except pa.ArrowInvalid as exc:
        if "straddl" not in str(exc) or len(data) < READ_BLOCK_BYTES:
            raise
        return _read_csv(fmt, data, types, len(data) + 1)


def _read_csv(fmt: LineFormat, data: bytes, types: dict[str, pa.DataType] | None, block_size: int) -> pa.Table:
    return pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=list(fmt.columns), block_size=block_size),
        parse_options=pacsv.ParseOptions(delimiter=fmt.sep.decode(), quote_char=False, double_quote=False,
                                         escape_char=False, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types=types or fmt.types, null_values=[""],
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )


def _bad_value_rows(fmt: LineFormat, data: bytes) -> dict[int, str]:
    """Rows whose fields do not match the format's patterns (searched only after a conversion failure)."""
    table = read_table(fmt, data, {name: pa.string() for name in fmt.columns})
    bad: dict[int, str] = {}
    for name, (pattern, description) in fmt.patterns.items():
        column = table.column(name)
        ok = pc.or_(pc.match_substring_regex(column, pattern), pc.is_null(column))
        for row in np.flatnonzero(~ok.to_numpy(zero_copy_only=False)):
            value = repr(column[row].as_py())
            shown = value if len(value) <= 80 else f"{value[:80]}… ({len(value):,} characters)"
            bad.setdefault(int(row), f"field {name} must be {description}, not {shown}")
    return bad


def _regular(fmt: LineFormat, data: bytes, n_lines: int) -> bool:
    """A cheap necessary condition for "every line is well-formed": the separator total, no CR.

    If it holds, the lines go straight to pyarrow, which rejects any line with a wrong field count,
    empty lines included (so lines with too few and too many separators cannot cancel out); only if
    pyarrow or the converter objects does the block take the per-line path.
    """
    separators = np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == fmt.sep[0])
    return separators == (fmt.fields - 1) * n_lines and b"\r" not in data


def _parse_regular(fmt: LineFormat, data: bytes, n_lines: int, convert: Converter) -> ParsedBlock | None:
    """The fast path: the whole block through pyarrow and `convert`; None if any line is at fault."""
    try:
        arrays, row_problems = convert(read_table(fmt, data))
    except pa.ArrowInvalid:
        return None
    if row_problems or len(arrays[0]) != n_lines:
        return None
    return ParsedBlock(arrays, np.arange(n_lines), 0, 0)


def parse_delimited(fmt: LineFormat, block: TextBlock, path: Path, convert: Converter,
                    skip_bad_lines: bool = False) -> ParsedBlock:
    """Parse `block` with `fmt` and `convert` (table -> arrays, bad rows); see the module docstring."""
    data = block.data.replace(*fmt.replace) if fmt.replace else block.data
    if data and _regular(fmt, data, block.n_lines):
        fast = _parse_regular(fmt, data, block.n_lines, convert)
        if fast is not None:
            return fast
    starts, ends = line_bounds(data)
    pad, problems = _line_problems(fmt, data, starts, ends)
    header = block.first_line == 1 and fmt.header is not None and data.startswith(fmt.header)
    if header:
        problems.pop(0, None)
    raise_or_skip(fmt, path, block, np.arange(len(starts)), problems, skip_bad_lines)
    lines = np.arange(len(starts))
    skipped, padded = len(problems), int((pad > 0).sum())
    if problems or pad.any() or header:
        keep = np.ones(len(starts), dtype=bool)
        keep[list(problems)] = False
        keep[0] &= not header
        data, lines = _rebuild(data, keep, pad, fmt.sep), lines[keep]
    while True:
        if not data:
            empty = pa.table({name: pa.array([], type=fmt.types[name]) for name in fmt.columns})
            arrays, row_problems = convert(empty)
        else:
            try:
                arrays, row_problems = convert(read_table(fmt, data))
            except pa.ArrowInvalid as exc:
                row_problems = _bad_value_rows(fmt, data)
                if not row_problems:
                    reason = str(exc) if len(str(exc)) <= 200 else str(exc)[:200] + "…"
                    raise DataError(f"{path}: lines {block.first_line}-{block.first_line + block.n_lines - 1} "
                                    f"could not be parsed as {fmt.name}: {reason}") from exc
                arrays = None
        raise_or_skip(fmt, path, block, lines, row_problems, skip_bad_lines)
        skipped += len(row_problems)
        keep = np.ones(len(lines), dtype=bool)
        keep[list(row_problems)] = False
        if arrays is not None:
            return ParsedBlock(tuple(a[keep] for a in arrays), lines[keep], skipped, padded)
        data, lines = _rebuild(data, keep, np.zeros(len(keep), np.int64), fmt.sep), lines[keep]


def int_column(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """An int64 column as numpy values (null -> 0) and its null mask, read from the Arrow buffers."""
    array = column.combine_chunks()
    n, start = len(array), array.offset
    validity, value_buf = array.buffers()
    if value_buf is None:
        return np.zeros(n, np.int64), np.ones(n, dtype=bool)
    values = np.frombuffer(value_buf, dtype=np.int64)[start: start + n].copy()
    if validity is None or array.null_count == 0:
        return values, np.zeros(n, dtype=bool)
    valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[start: start + n]
    missing = valid == 0
    values[missing] = 0
    return values, missing
