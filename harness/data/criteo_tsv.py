"""The native Criteo TSV line format (Kaggle ``train.txt``, 1TB ``day_N``), parsed into numpy arrays.

A line is ``label \\t I1..I13 \\t C1..C26``: the label (0/1), 13 integer counts (may be negative
or empty) and 26 categorical values written as 8 hex digits (may be empty). The generic
:mod:`.delimited` parser checks the lines and splits the fields; the hex digits are decoded here
with a lookup table over the raw string buffer, never one value at a time.

**Stripped trailing fields.** Copies of Criteo circulate with the trailing empty fields of each
line removed (e.g. ``jqsl2012/pytorch-fm``'s ``train.txt``), leaving 37-39 fields. Only empty
fields can be stripped that way, so such a line is read exactly as the original: it is padded with
empty fields to 40, and the count of padded lines is reported (``padded_lines`` in the manifest).
A line with fewer than 37 or more than 40 fields is malformed.

**Malformed lines** (wrong field count or separator, CR line ending, label not 0/1, a non-integer
count, a categorical that is not 8 hex digits, an empty line) raise a
:class:`~.delimited.BadLineError` naming ``file:line``, the field and the text, unless
``skip_bad_lines`` is set: they are then dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from torchrec.datasets.criteo import DEFAULT_CAT_NAMES, DEFAULT_INT_NAMES, DEFAULT_LABEL_NAME

from repro.harness.data.delimited import Arrays, LineFormat, int_column, parse_delimited
from repro.harness.data.textblocks import TextBlock

N_DENSE = len(DEFAULT_INT_NAMES)
N_CAT = len(DEFAULT_CAT_NAMES)
MIN_STRIPPED_FIELDS = 37

CRITEO_TSV = LineFormat(
    name="Criteo TSV",
    sep=b"\t",
    columns=(DEFAULT_LABEL_NAME, *DEFAULT_INT_NAMES, *DEFAULT_CAT_NAMES),
    types={DEFAULT_LABEL_NAME: pa.int64(), **{n: pa.int64() for n in DEFAULT_INT_NAMES},
           **{n: pa.binary() for n in DEFAULT_CAT_NAMES}},
    patterns={DEFAULT_LABEL_NAME: (r"^[01]$", "0 or 1"),
              **{n: (r"^(-?[0-9]+)?$", "an integer count or empty") for n in DEFAULT_INT_NAMES}},
    min_fields=MIN_STRIPPED_FIELDS,
)

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


@dataclass(frozen=True)
class CriteoChunk:
    """Parsed rows: labels (int8 0/1), counts (int64, empty -> 0), their missing mask, raw uint32 hashes."""

    labels: np.ndarray
    dense: np.ndarray
    dense_missing: np.ndarray
    cat: np.ndarray
    skipped: int
    padded: int


def decode_hex(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
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


def _convert(table: pa.Table) -> tuple[Arrays, dict[int, str]]:
    """Typed arrays of a parsed table, and the rows with a bad label or a bad hex value."""
    problems: dict[int, str] = {}
    labels, label_missing = int_column(table.column(DEFAULT_LABEL_NAME))
    for row in np.flatnonzero(label_missing | (labels != 0) & (labels != 1)):
        problems[int(row)] = "the label (first field) must be 0 or 1"
    cat = np.empty((table.num_rows, N_CAT), dtype=np.uint32)
    for j, name in enumerate(DEFAULT_CAT_NAMES):
        cat[:, j], bad = decode_hex(table.column(name))
        for row in np.flatnonzero(bad):
            problems.setdefault(int(row), f"field {name} must be 8 hex digits or empty")
    dense = np.empty((table.num_rows, N_DENSE), dtype=np.int64)
    missing = np.empty((table.num_rows, N_DENSE), dtype=bool)
    for j, name in enumerate(DEFAULT_INT_NAMES):
        dense[:, j], missing[:, j] = int_column(table.column(name))
    return (labels.astype(np.int8), dense, missing, cat), problems


def parse_block(block: TextBlock, path: Path, skip_bad_lines: bool = False) -> CriteoChunk:
    """Parse one block of Criteo TSV lines into arrays (see the module docstring for the rules)."""
    parsed = parse_delimited(CRITEO_TSV, block, path, _convert, skip_bad_lines)
    labels, dense, missing, cat = parsed.arrays
    return CriteoChunk(labels, dense, missing, cat, parsed.skipped, parsed.padded)
