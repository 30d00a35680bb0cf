"""The native Criteo TSV line format (Kaggle ``train.txt``, 1TB ``day_N``), parsed into numpy arrays.

A line is ``label \\t I1..I13 \\t C1..C26``: the label (0/1), 13 integer counts (may be negative
or empty) and 26 categorical values written as 8 hex digits (may be empty). The generic
:mod:`.delimited` parser checks the lines and splits the fields (categoricals as fixed-size 8-byte
binary, so that their bytes lie in one flat buffer); the hex digits are decoded here for all values
at once with word-wide integer arithmetic (:func:`decode_hex_words`), never one value at a time.

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

from harness.data.delimited import Arrays, LineFormat, int_column, parse_delimited
from harness.data.textblocks import TextBlock

# The column names of torchrec's Criteo utilities (torchrec.datasets.criteo.DEFAULT_LABEL_NAME,
# DEFAULT_INT_NAMES, DEFAULT_CAT_NAMES), spelled out so that preprocessing does not import torch
# (~400 MB of resident memory); tests/data/test_criteo.py checks that they agree.
DEFAULT_LABEL_NAME = "label"
DEFAULT_INT_NAMES = tuple(f"int_{i}" for i in range(13))
DEFAULT_CAT_NAMES = tuple(f"cat_{i}" for i in range(26))
N_DENSE = len(DEFAULT_INT_NAMES)
N_CAT = len(DEFAULT_CAT_NAMES)
MIN_STRIPPED_FIELDS = 37

CRITEO_TSV = LineFormat(
    name="Criteo TSV",
    sep=b"\t",
    columns=(DEFAULT_LABEL_NAME, *DEFAULT_INT_NAMES, *DEFAULT_CAT_NAMES),
    types={DEFAULT_LABEL_NAME: pa.int64(), **{n: pa.int64() for n in DEFAULT_INT_NAMES},
           **{n: pa.binary(8) for n in DEFAULT_CAT_NAMES}},
    patterns={DEFAULT_LABEL_NAME: (r"^[01]$", "0 or 1"),
              **{n: (r"^(-?[0-9]+)?$", "an integer count or empty") for n in DEFAULT_INT_NAMES},
              **{n: (r"^([0-9a-fA-F]{8})?$", "8 hex digits or empty") for n in DEFAULT_CAT_NAMES}},
    min_fields=MIN_STRIPPED_FIELDS,
)

_U64 = np.uint64
_ZERO_WORD = np.frombuffer(b"00000000", dtype="<u8")[0]
_EVERY_BYTE = _U64(0x0101010101010101)


@dataclass(frozen=True)
class CriteoChunk:
    """Parsed rows: labels (int8 0/1), counts (int64, empty -> 0), their missing mask, raw uint32 hashes.

    `cat` is [rows, 26] in column-major (Fortran) order: per-key passes read contiguous memory.
    """

    labels: np.ndarray
    dense: np.ndarray
    dense_missing: np.ndarray
    cat: np.ndarray
    skipped: int
    padded: int


def _decode_slice(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`decode_hex_words` on one 1-d slice of words."""
    raw = words.view(np.uint8)
    ok = ((raw - np.uint8(48)) < 10) | (((raw | np.uint8(0x20)) - np.uint8(97)) < 6)
    bad = ok.view(np.uint64) != _EVERY_BYTE
    nibbles = (words & _U64(0x0F0F0F0F0F0F0F0F)) + ((words >> _U64(6)) & _EVERY_BYTE) * _U64(9)
    pairs = ((nibbles & _U64(0x000F000F000F000F)) << _U64(4)) | ((nibbles >> _U64(8)) & _U64(0x000F000F000F000F))
    quads = (pairs & _U64(0x000000FF000000FF)) | ((pairs >> _U64(8)) & _U64(0x0000FF000000FF00))
    packed = (quads & _U64(0xFFFF)) | ((quads >> _U64(16)) & _U64(0xFFFF0000))
    return packed.astype(np.uint32).byteswap(), bad


def decode_hex_words(words: np.ndarray, slice_words: int = 1 << 15) -> tuple[np.ndarray, np.ndarray]:
    """8 ASCII hex digits per little-endian uint64 word as a uint32 value; and the mask of non-hex words.

    SIMD within a register: ``(c & 0xF) + 9·bit6(c)`` turns every hex digit (``0-9``, ``a-f``,
    ``A-F``) into its nibble in place; nibble pairs are then merged into bytes and the four bytes
    into one word, read big-endian (the first digit is the most significant). The words are
    processed in slices of `slice_words`, so that the temporaries stay in the CPU cache (2.4x faster
    than whole-array operations, which are memory-bound).
    """
    flat = np.ascontiguousarray(words).reshape(-1)
    values, bad = np.empty(len(flat), np.uint32), np.empty(len(flat), bool)
    for start in range(0, len(flat), slice_words):
        stop = start + slice_words
        values[start:stop], bad[start:stop] = _decode_slice(flat[start:stop])
    return values.reshape(words.shape), bad.reshape(words.shape)


def _hex_words(table: pa.Table) -> np.ndarray:
    """The categorical columns (8-byte binary, null when empty) as a key-major [26, rows] matrix of uint64 words.

    Key-major, so that each column is one contiguous copy out of its Arrow buffer. Empty fields
    read as ``"00000000"``: value 0, dlrm's convention for a missing categorical.
    """
    words = np.empty((N_CAT, table.num_rows), dtype="<u8")
    for j, name in enumerate(DEFAULT_CAT_NAMES):
        row = 0
        for chunk in table.column(name).chunks:
            n = len(chunk)
            data = chunk.buffers()[1]
            column = words[j, row: row + n]
            if data is None:
                column[:] = _ZERO_WORD
            else:
                column[:] = np.frombuffer(data, dtype="<u8", count=chunk.offset + n)[chunk.offset:]
            if chunk.null_count:
                column[chunk.is_null().to_numpy(zero_copy_only=False)] = _ZERO_WORD
            row += n
    return words


def _convert(table: pa.Table) -> tuple[Arrays, dict[int, str]]:
    """Typed arrays of a parsed table, and the rows with a bad label or a bad hex value."""
    problems: dict[int, str] = {}
    labels, label_missing = int_column(table.column(DEFAULT_LABEL_NAME))
    for row in np.flatnonzero(label_missing | (labels != 0) & (labels != 1)):
        problems[int(row)] = "the label (first field) must be 0 or 1"
    cat_by_key, bad = decode_hex_words(_hex_words(table))
    for j, row in sorted(zip(*np.nonzero(bad)), key=lambda jr: jr[1]):
        problems.setdefault(int(row), f"field {DEFAULT_CAT_NAMES[j]} must be 8 hex digits or empty")
    cat = cat_by_key.T  # [rows, 26], each key's column contiguous in memory
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
