"""Frappe (context-aware app usage; Baltrunas et al. 2015, arXiv 1505.03014) in the NFM/BARS libfm split.

Raw files (He & Chua's split for NFM, SIGIR 2017, and AFM, IJCAI 2017; the same split is BARS/FuxiCTR
``Frappe_x1``), in ``<data dir>/frappe_nfm/``, plain or gzip: ``frappe.train.libfm`` (202,027
rows), ``frappe.validation.libfm`` (57,722) and ``frappe.test.libfm`` (28,860). Each line is
``label idx:1 idx:1 …`` with CRLF line endings, label ``1`` (an app used in a context) or ``-1``
(two sampled negatives per positive), and exactly 10 one-hot tokens. Token ``j`` is field ``j``
(user, item, daytime, weekday, isweekend, homework, cost, weather, country, city); the fields
occupy consecutive blocks of the global index space of 5,382 features (:data:`FIELD_SIZES`, the
counts of the dataset's README), so field ``j``'s table index is ``idx - start_j``.

Protocols (dataset ids, see :mod:`.registry`):

* ``frappe`` — for when only the validation and test parts are at hand (the project's shared copy):
  the validation file is split by a seeded permutation (seed :data:`SPLIT_SEED`) 80/20 into
  train (46,178 rows) and validation (11,544); the official test file (28,860) is the test split.
  No test row is ever trained on. Absolute scores are below those of models trained on the
  202,027-row train file.
* ``frappe-bars`` — the published split as is: train, validation and test files.

Labels ``1 -> 1``, ``-1 -> 0``. A line with another label, a token count other than 11, a value
other than ``:1``, or an index outside its field's block is malformed (the error names the file,
the line, the field and the fix; ``--skip-bad-lines`` drops and counts such lines).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.data.catalog import DatasetSpec, RawFile
from harness.data.delimited import Arrays, LineFormat, parse_delimited
from harness.data.encoders import ModuloEncoder
from harness.data.pipeline import ParsedRows, SplitAssigner, TabularJob
from harness.data.splits import SPLITS, TEST, TRAIN, VAL
from harness.data.textblocks import TextBlock

FIELDS = ("user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city")
FIELD_SIZES = (957, 4082, 7, 7, 2, 3, 2, 9, 80, 233)  # README.txt of the split: 5,382 features in all
FIELD_STARTS = tuple(int(s) for s in np.concatenate([[0], np.cumsum(FIELD_SIZES)[:-1]]))
NUM_FEATURES = sum(FIELD_SIZES)
SPLIT_SEED = 2024
TRAIN_FRACTION = 0.8
NFM = "https://raw.githubusercontent.com/hexiangnan/neural_factorization_machine/master/data/frappe"

LIBFM = LineFormat(
    name="Frappe libfm",
    sep=b" ",
    columns=("label", *FIELDS),
    types={"label": pa.int64(), **{f: pa.string() for f in FIELDS}},
    patterns={"label": (r"^-?1$", "1 or -1")},
    replace=(b"\r\n", b"\n"),
)

SPEC = DatasetSpec(
    id="frappe",
    title="Frappe context-aware app usage, NFM/BARS libfm split (Frappe_x1)",
    folder="frappe_nfm",
    homepage="https://github.com/hexiangnan/neural_factorization_machine/tree/master/data/frappe",
    files=(RawFile("frappe.train.libfm", url=f"{NFM}/frappe.train.libfm", rows=202_027,
                   alternatives=("frappe.train.libfm.gz",)),
           RawFile("frappe.validation.libfm", url=f"{NFM}/frappe.validation.libfm", rows=57_722,
                   sha256="fdf4be563a7dd9b15f7a6e8b32671e90e6e7a2a2bd3af4e10bf13c5ad7e76e9e",
                   alternatives=("frappe.validation.libfm.gz",)),
           RawFile("frappe.test.libfm", url=f"{NFM}/frappe.test.libfm", rows=28_860,
                   sha256="a2ebaef3a9af8e55f8bb0d08bc4923965e42e43760ebd7635ac2f8c5db99e097",
                   alternatives=("frappe.test.libfm.gz",))),
    license="Frappe terms (Baltrunas et al.): research use only, acknowledge in publications, no redistribution",
    download_note="`repro data download frappe` fetches the three libfm files of hexiangnan/neural_factorization_"
                  "machine (data/frappe/) into <data dir>/frappe_nfm/",
)

VALIDATION_AND_TEST = ("frappe.validation.libfm", "frappe.test.libfm")


def _field_indices(column: pa.ChunkedArray, field: int) -> tuple[np.ndarray, np.ndarray]:
    """Table indices of one token column (``idx:1`` -> ``idx - start``) and the mask of bad tokens."""
    well_formed = pc.match_substring_regex(column, r"^[0-9]{1,9}:1$").to_numpy(zero_copy_only=False)
    digits = pc.if_else(pa.array(well_formed), pc.replace_substring_regex(column, ":1$", ""), "0")
    index = pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False) - FIELD_STARTS[field]
    bad = ~well_formed | (index < 0) | (index >= FIELD_SIZES[field])
    return np.where(bad, 0, index), bad


def _bad_token(text: str, field: int) -> str:
    """Why token `text` of `field` is malformed."""
    start, size = FIELD_STARTS[field], FIELD_SIZES[field]
    if not text.endswith(":1") or not text[:-2].isdigit():
        return f"token {field + 1} ({FIELDS[field]}) must be 'index:1', not {text!r}"
    return (f"token {field + 1} ({FIELDS[field]}) has feature index {text[:-2]}, outside the field's block "
            f"[{start}, {start + size}) of the NFM Frappe index space (is this the libfm file of the NFM split?)")


def convert(table: pa.Table) -> tuple[Arrays, dict[int, str]]:
    """A parsed block as (labels in {-1, 1}, table indices [n, 10]) and the reasons of its malformed rows."""
    label = table.column("label").to_numpy(zero_copy_only=False).astype(np.int64)
    problems: dict[int, str] = {int(r): f"the label must be 1 or -1, not {label[r]}"
                                for r in np.flatnonzero((label != 1) & (label != -1))}
    cat = np.empty((len(label), len(FIELDS)), dtype=np.int64)
    for j, name in enumerate(FIELDS):
        cat[:, j], bad = _field_indices(table.column(name), j)
        for row in np.flatnonzero(bad):
            problems.setdefault(int(row), _bad_token(table.column(name)[int(row)].as_py(), j))
    return (label, cat), problems


def parse_libfm(block: TextBlock, path: Path, skip_bad_lines: bool) -> ParsedRows:
    """A block of Frappe libfm lines as pipeline rows: 0/1 labels, no dense features, 10 field indices."""
    parsed = parse_delimited(LIBFM, block, path, convert, skip_bad_lines)
    label, cat = parsed.arrays
    return ParsedRows(labels=(label == 1).astype(np.float32), dense=np.zeros((len(label), 0), np.float32),
                      cat=cat, skipped=parsed.skipped, padded=parsed.padded)


def validation_split_rule(file_rows: list[int], seed: int = SPLIT_SEED,
                          train_fraction: float = TRAIN_FRACTION) -> SplitAssigner:
    """File 0 (validation) split by a seeded permutation into train | val; file 1 (test) is the test split."""
    n = file_rows[0]
    codes = np.full(n, VAL, dtype=np.uint8)
    codes[np.random.default_rng(seed).permutation(n)[: int(round(train_fraction * n))]] = TRAIN

    def assign(row_ids: np.ndarray, file_index: int) -> np.ndarray:
        if file_index == 1:
            return np.full(len(row_ids), TEST, dtype=np.uint8)
        return codes[row_ids]

    return assign


def file_split_rule(file_rows: list[int]) -> SplitAssigner:
    """Files train, validation, test are the splits train, val, test."""
    def assign(row_ids: np.ndarray, file_index: int) -> np.ndarray:
        return np.full(len(row_ids), (TRAIN, VAL, TEST)[file_index], dtype=np.uint8)

    return assign


def frappe_params(published_split: bool, seed: int = SPLIT_SEED) -> dict[str, object]:
    """The protocol parameters of a Frappe id (they name its cache folder)."""
    if published_split:
        return {"protocol": "NFM/BARS Frappe_x1 published split", "split": "train | validation | test files",
                "fields": "token position", "labels": "1 -> 1, -1 -> 0"}
    return {"protocol": "NFM/BARS Frappe_x1, validation file split", "seed": seed,
            "split": f"validation file {TRAIN_FRACTION:.0%} train / rest val (seeded); test file = test",
            "fields": "token position", "labels": "1 -> 1, -1 -> 0"}


def frappe_job(sources: list[Path], published_split: bool = False, seed: int = SPLIT_SEED) -> TabularJob:
    """The Frappe job from [validation, test] (``frappe``) or [train, validation, test] (``frappe-bars``)."""
    rule: Callable[[list[int]], SplitAssigner] = (
        file_split_rule if published_split else (lambda rows: validation_split_rule(rows, seed)))
    return TabularJob(dataset_id="frappe-bars" if published_split else "frappe", sources=sources, parse=parse_libfm,
                      encoder=ModuloEncoder(list(FIELD_SIZES)), split_rule=rule, split_names=SPLITS,
                      dense_names=(), sparse_names=FIELDS, label_name="used",
                      params=frappe_params(published_split, seed))
