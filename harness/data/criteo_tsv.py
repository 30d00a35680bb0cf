"""Parse blocks of the native Criteo TSV (Kaggle ``train.txt``, 1TB ``day_N``) into numpy arrays, vectorised.

A line is ``label \\t I1..I13 \\t C1..C26``: the label (0/1), 13 integer counts (may be negative
or empty) and 26 categorical values written as 8 hex digits (may be empty). pyarrow's
multi-threaded CSV reader splits the fields; the hex digits are decoded with a lookup table over
the raw string buffer, never one value at a time.

**Stripped trailing fields.** Copies of Criteo circulate with the trailing empty fields of each
line removed (e.g. ``jqsl2012/pytorch-fm``'s ``train.txt``), leaving 37-39 fields. Only empty
fields can be stripped that way, so such a line is read exactly as the original: it is padded with
empty fields to 40, and the count of padded lines is reported (``padded_lines`` in the manifest).
A line with fewer than 37 or more than 40 fields is malformed.

**Malformed lines** (wrong field count or separator, CR line ending, label not 0/1, a non-integer
count, a categorical that is not 8 hex digits, an empty line) raise a :class:`BadLineError` naming
``file:line``, the field and the text, unless ``skip_bad_lines`` is set: they are then dropped and
counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from torchrec.datasets.criteo import DEFAULT_CAT_NAMES, DEFAULT_INT_NAMES, DEFAULT_LABEL_NAME

from repro.harness.data.textblocks import TextBlock, line_text
from repro.harness.errors import DataError

N_DENSE = len(DEFAULT_INT_NAMES)
N_CAT = len(DEFAULT_CAT_NAMES)
N_FIELDS = 1 + N_DENSE + N_CAT
MIN_STRIPPED_FIELDS = 37
COLUMNS = [DEFAULT_LABEL_NAME, *DEFAULT_INT_NAMES, *DEFAULT_CAT_NAMES]

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


class BadLineError(DataError):
    """A malformed line of a raw file; the message names the file, the line, the field and the fix."""


@dataclass(frozen=True)
class CriteoChunk:
    """Parsed rows: labels (int8 0/1), raw counts (int64, empty -> 0) with a missing mask, raw hashes."""

    labels: np.ndarray
    dense: np.ndarray
    dense_missing: np.ndarray
    cat: np.ndarray
    line_numbers: np.ndarray
    skipped: int
    padded: int


def _line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without the newline) byte offsets of every line of `data`."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    return starts, ends


def _field_counts(data: bytes, starts: np.ndarray) -> np.ndarray:
    """Number of tab-separated fields on every line."""
    is_tab = (np.frombuffer(data, dtype=np.uint8) == 9).view(np.uint8)
    return np.add.reduceat(is_tab, starts, dtype=np.int32) + 1 if len(data) else np.zeros(0, np.int32)


def _line_problems(data: bytes, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """Per line: how many empty fields to append (0-3), and the reason for every malformed line."""
    fields = _field_counts(data, starts)
    problems: dict[int, str] = {}
    if b"\r" in data:
        cr = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 13)
        for line in np.unique(np.searchsorted(ends, cr)):
            problems[int(line)] = ("the line ends with a carriage return (Windows CRLF line endings); "
                                   "convert the file with `dos2unix` or `sed -i 's/\\r$//'`")
    for line in np.flatnonzero(ends == starts):
        problems.setdefault(int(line), "the line is empty")
    for line in np.flatnonzero((fields < MIN_STRIPPED_FIELDS) | (fields > N_FIELDS)):
        if int(line) in problems:
            continue
        hint = " (is the file tab-separated? Criteo's raw files are)" if fields[line] == 1 else ""
        problems[int(line)] = (f"it has {fields[line]} tab-separated fields, expected {N_FIELDS} "
                               f"(label, {N_DENSE} counts, {N_CAT} categoricals){hint}")
    pad = np.where((fields >= MIN_STRIPPED_FIELDS) & (fields < N_FIELDS), N_FIELDS - fields, 0)
    return pad, problems


def _rebuild(data: bytes, keep: np.ndarray, pad: np.ndarray) -> bytes:
    """The lines of `data` selected by `keep`, each padded with `pad` empty fields (the slow path)."""
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    out = [lines[i] + b"\t" * int(pad[i]) for i in np.flatnonzero(keep)]
    return b"\n".join(out) + b"\n" if out else b""


_PARSE = pacsv.ParseOptions(delimiter="\t", quote_char=False, double_quote=False, escape_char=False)


def _read(data: bytes, dense_type: pa.DataType) -> pa.Table:
    """Split `data` into the 40 typed columns with pyarrow (multi-threaded)."""
    types = {DEFAULT_LABEL_NAME: pa.int64(), **{n: dense_type for n in DEFAULT_INT_NAMES},
             **{n: pa.binary() for n in DEFAULT_CAT_NAMES}}
    return pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=COLUMNS, block_size=4 << 20),
        parse_options=_PARSE,
        convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""],
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )


def _bad_dense_rows(data: bytes) -> dict[int, str]:
    """Rows whose label or counts are not integers (found by regex, only after a conversion failure)."""
    table = _read(data, pa.string())
    bad: dict[int, str] = {}
    for name in DEFAULT_INT_NAMES:
        ok = pc.match_substring_regex(table.column(name), r"^-?[0-9]+$")
        ok = pc.or_(ok, pc.is_null(table.column(name)))
        for row in np.flatnonzero(~ok.to_numpy(zero_copy_only=False)):
            bad.setdefault(int(row), f"field {name} must be an integer count or empty")
    return bad


def _decode_hex(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """8-hex-digit values of a binary column as uint32 (empty -> 0), and a mask of malformed rows.

    When every value has 8 or 0 characters (all well-formed input), the column's data buffer is the
    plain concatenation of the 8-character values, decoded in one pass: digits through a lookup
    table, nibble pairs packed into bytes, four bytes read as one big-endian uint32.
    """
    array = column.combine_chunks()
    _, offset_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offset_buf, dtype=np.int32)[array.offset: array.offset + len(array) + 1]
    raw = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    full = lengths == 8
    bad = ~(full | (lengths == 0))
    if bad.any():
        chars = raw[offsets[:-1][full, None] + np.arange(8)]
    else:
        chars = raw[offsets[0]: offsets[-1]].reshape(-1, 8)
    digits = _HEX[chars]
    if (digits == 255).any():
        bad[np.flatnonzero(full)[(digits == 255).any(axis=1)]] = True
        digits[digits == 255] = 0
    packed = np.ascontiguousarray((digits[:, 0::2] << 4) | digits[:, 1::2])
    values = np.zeros(len(array), dtype=np.uint32)
    values[full] = packed.view(">u4").ravel()
    return values, bad


def _int_column(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """An int64 column as numpy values (null -> 0) and its null mask, read from the Arrow buffers."""
    array = column.combine_chunks()
    n, start = len(array), array.offset
    validity, value_buf = array.buffers()
    values = np.frombuffer(value_buf, dtype=np.int64)[start: start + n].copy()
    if validity is None or array.null_count == 0:
        return values, np.zeros(n, dtype=bool)
    valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[start: start + n]
    missing = valid == 0
    values[missing] = 0
    return values, missing


def _raise_or_drop(path: Path, block: TextBlock, local_lines: np.ndarray, problems: dict[int, str],
                   skip_bad_lines: bool) -> None:
    """Raise a BadLineError for the first of `problems` (row -> reason) unless skipping is allowed."""
    if problems and not skip_bad_lines:
        row = min(problems)
        index = int(local_lines[row])
        raise BadLineError(
            f"{path}:{block.first_line + index}: malformed Criteo line: {problems[row]}.\n"
            f"  text: {line_text(block, index)}\n"
            f"Fix the file, or pass --skip-bad-lines to drop such lines (their count is recorded in the manifest).")


def _empty_arrays() -> tuple[np.ndarray, ...]:
    """The arrays of a chunk without rows."""
    return (np.zeros(0, np.int8), np.zeros((0, N_DENSE), np.int64), np.zeros((0, N_DENSE), bool),
            np.zeros((0, N_CAT), np.uint32))


def _convert(data: bytes) -> tuple[tuple[np.ndarray, ...] | None, dict[int, str], str]:
    """Typed arrays of well-formed-looking lines, the rows with bad values, and pyarrow's error if any.

    The arrays are None when pyarrow could not convert a count; the rows to blame are then found by
    regex and the caller converts the remaining rows again.
    """
    if not data:
        return _empty_arrays(), {}, ""
    try:
        table = _read(data, pa.int64())
    except pa.ArrowInvalid as exc:
        return None, _bad_dense_rows(data), str(exc)
    problems: dict[int, str] = {}
    labels, label_missing = _int_column(table.column(DEFAULT_LABEL_NAME))
    for row in np.flatnonzero(label_missing | (labels != 0) & (labels != 1)):
        problems[int(row)] = "the label (first field) must be 0 or 1"
    cat = np.empty((table.num_rows, N_CAT), dtype=np.uint32)
    for j, name in enumerate(DEFAULT_CAT_NAMES):
        cat[:, j], bad = _decode_hex(table.column(name))
        for row in np.flatnonzero(bad):
            problems.setdefault(int(row), f"field {name} must be 8 hex digits or empty")
    dense = np.empty((table.num_rows, N_DENSE), dtype=np.int64)
    missing = np.empty((table.num_rows, N_DENSE), dtype=bool)
    for j, name in enumerate(DEFAULT_INT_NAMES):
        dense[:, j], missing[:, j] = _int_column(table.column(name))
    return (labels.astype(np.int8), dense, missing, cat), problems, ""


def parse_block(block: TextBlock, path: Path, skip_bad_lines: bool = False) -> CriteoChunk:
    """Parse one block of Criteo TSV lines into arrays (see the module docstring for the rules)."""
    starts, ends = _line_bounds(block.data)
    pad, problems = _line_problems(block.data, starts, ends)
    _raise_or_drop(path, block, np.arange(len(starts)), problems, skip_bad_lines)
    local, data = np.arange(len(starts)), block.data
    if problems or pad.any():
        keep = np.ones(len(starts), dtype=bool)
        keep[list(problems)] = False
        data, local = _rebuild(data, keep, pad), local[keep]
    skipped, padded = len(problems), int((pad > 0).sum())
    while True:
        arrays, row_problems, arrow_error = _convert(data)
        if arrays is None and not row_problems:
            raise DataError(f"{path}: lines {block.first_line}-{block.first_line + block.n_lines - 1} "
                            f"could not be parsed as Criteo TSV: {arrow_error}")
        _raise_or_drop(path, block, local, row_problems, skip_bad_lines)
        skipped += len(row_problems)
        keep = np.ones(len(local), dtype=bool)
        keep[list(row_problems)] = False
        local = local[keep]
        if arrays is not None:
            labels, dense, missing, cat = (a[keep] for a in arrays)
            return CriteoChunk(labels, dense, missing, cat, local, skipped, padded)
        data = _rebuild(data, keep, np.zeros(len(keep), dtype=np.int64))
