"""Criteo Kaggle (Display Advertising Challenge) and Criteo 1TB: raw files and preprocessing protocols.

Protocols (each one dataset id, see :mod:`.registry`):

* ``criteo-kaggle-dlrm`` — facebookresearch/dlrm ``data_utils.py``: the rows of ``train.txt`` in
  file order are cut into 7 pseudo-days (``divmod(rows, 7)``, the first ``rows mod 7`` days one row
  longer); days 0-5 train; day 6 is halved with ``np.array_split``: first half test, second half
  validation. Dense: ``log(max(x, 0) + 1)`` in float32, empty -> 0. Categorical: a dictionary per
  feature over all rows (empty counts as value 0, as in dlrm); the table size is the number of
  distinct values. dlrm shuffles the training rows; here the loader's seeded block shuffle does.
* ``criteo-kaggle-bars`` — BARS/FuxiCTR Criteo_x1: rows randomly split 7:2:1 (train/val/test) by a
  seeded permutation (``seed`` 2018); categorical values seen fewer than ``min_categr_count`` (10)
  times share index 0 (OOV). Dense as above (the published x1 files ship values normalised by a
  procedure that cannot be regenerated from ``train.txt``; this is stated in the manifest).
* ``criteo-kaggle-hashed`` — the dlrm split, with ``index = hash mod num_embeddings`` per table
  (default 1,000,000) instead of dictionaries: for experiments with capped tables.
* ``criteo-1tb`` — ``day_0`` … ``day_23`` (plain or gzip), processed a file at a time: days 0-22
  train, day 23 halved (first half validation, second half test, as torchrec's
  ``InMemoryBinaryCriteoIterDataPipe``); ``index = hash mod size`` with the MLPerf/torchrec DLRM
  sizes (40M caps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.data.catalog import DatasetSpec, RawFile
from harness.data.criteo_tsv import DEFAULT_CAT_NAMES, DEFAULT_INT_NAMES, DEFAULT_LABEL_NAME, parse_block
from harness.data.encoders import DictionaryEncoder, ModuloEncoder
from harness.data.pipeline import ParsedRows, SplitAssigner, TabularJob
from harness.data.splits import SPLITS, TEST, TRAIN, VAL, last_file_halved_rule, random_split_rule
from harness.data.textblocks import TextBlock

KAGGLE_ROWS = 45_840_617
# torchrec examples/dlrm / MLPerf DLRM: per-feature embedding rows for Criteo 1TB (max_ind_range 40M).
CRITEO_1TB_SIZES = (40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10, 2209,
                    11938, 155, 4, 976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36)

KAGGLE_SPEC = DatasetSpec(
    id="criteo-kaggle",
    title="Criteo Display Advertising Challenge (Kaggle 2014), train.txt",
    folder="criteo_dac",
    homepage="https://www.kaggle.com/c/criteo-display-ad-challenge",
    files=(RawFile(name="train.txt", url=None, rows=KAGGLE_ROWS,
                   alternatives=("train.txt.gz", "train.head10109.txt")),),
    license="Criteo Labs data terms: non-commercial research only, no redistribution, cite Criteo",
    download_note=("Kaggle requires your own account: accept the competition rules, then "
                   "`kaggle competitions download -c criteo-display-ad-challenge` and extract train.txt "
                   "into <data dir>/criteo_dac/"),
)

TB_SPEC = DatasetSpec(
    id="criteo-1tb",
    title="Criteo 1TB Click Logs (24 days)",
    folder="criteo_1tb",
    homepage="https://ailab.criteo.com/download-criteo-1tb-click-logs-dataset/",
    files=tuple(RawFile(name=f"day_{d}", url=None, alternatives=(f"day_{d}.gz",)) for d in range(24)),
    license="Criteo Labs data terms: non-commercial research only, no redistribution, cite Criteo",
    download_note=("the Criteo AI Lab site asks you to accept its terms in a browser; download day_0 … day_23 "
                   "(gz is fine) into <data dir>/criteo_1tb/"),
)


def dlrm_dense(dense: np.ndarray) -> np.ndarray:
    """facebookresearch/dlrm's dense transform: negatives clamped to 0, then ``log(x + 1)`` in float32."""
    return np.log(np.maximum(dense, 0).astype(np.float32) + np.float32(1))


def parse_criteo(block: TextBlock, path: Path, skip_bad_lines: bool) -> ParsedRows:
    """A block of Criteo TSV as pipeline rows (labels and log-transformed counts as float32, raw hashes)."""
    chunk = parse_block(block, path, skip_bad_lines)
    return ParsedRows(labels=chunk.labels.astype(np.float32), dense=dlrm_dense(chunk.dense), cat=chunk.cat,
                      skipped=chunk.skipped, padded=chunk.padded)


def dlrm_day_bounds(rows: int, days: int = 7) -> np.ndarray:
    """First row of each pseudo-day and the end, as dlrm's ``divmod(total, days)`` with extras first."""
    size, extra = divmod(rows, days)
    lengths = np.full(days, size, dtype=np.int64)
    lengths[:extra] += 1
    return np.concatenate([[0], np.cumsum(lengths)])


def dlrm_split_rule(file_rows: list[int], days: int = 7) -> SplitAssigner:
    """Rows of days 0..days-2 train; the last day's first half (``np.array_split``) test, second half val."""
    bounds = dlrm_day_bounds(sum(file_rows), days)
    last_start, end = int(bounds[-2]), int(bounds[-1])
    test_end = last_start + (end - last_start + 1) // 2

    def assign(row_ids: np.ndarray, file_index: int) -> np.ndarray:
        codes = np.full(len(row_ids), TRAIN, dtype=np.uint8)
        codes[(row_ids >= last_start) & (row_ids < test_end)] = TEST
        codes[row_ids >= test_end] = VAL
        return codes

    return assign


def _job(dataset_id: str, sources: list[Path], encoder: Any, split_rule: Any, params: dict[str, Any]) -> TabularJob:
    """A Criteo preprocessing job (shared by every protocol)."""
    return TabularJob(dataset_id=dataset_id, sources=sources, parse=parse_criteo, encoder=encoder,
                      split_rule=split_rule, split_names=SPLITS, dense_names=tuple(DEFAULT_INT_NAMES),
                      sparse_names=tuple(DEFAULT_CAT_NAMES), label_name=DEFAULT_LABEL_NAME, params=params)


def kaggle_dlrm_job(sources: list[Path], days: int = 7) -> TabularJob:
    """The facebookresearch/dlrm Kaggle protocol (see the module docstring)."""
    params = {"protocol": "facebookresearch/dlrm", "days": days, "dense": "log(max(x,0)+1)",
              "categorical": "dictionary over all rows", "split": "days 0-5 train; day 6: test | val"}
    return _job("criteo-kaggle-dlrm", sources, DictionaryEncoder(len(DEFAULT_CAT_NAMES)),
                lambda rows: dlrm_split_rule(rows, days), params)


def kaggle_bars_job(sources: list[Path], seed: int = 2018, min_categr_count: int = 10) -> TabularJob:
    """The BARS Criteo_x1 protocol: random 7:2:1, rare categories to OOV (see the module docstring)."""
    params = {"protocol": "BARS Criteo_x1", "seed": seed, "min_categr_count": min_categr_count,
              "fractions": [0.7, 0.2, 0.1], "dense": "log(max(x,0)+1) (x1's own normalisation not reproducible)",
              "categorical": "dictionary, count < min_categr_count -> index 0"}
    return _job("criteo-kaggle-bars", sources, DictionaryEncoder(len(DEFAULT_CAT_NAMES), min_categr_count),
                lambda rows: random_split_rule(rows, seed=seed), params)


def kaggle_hashed_job(sources: list[Path], num_embeddings: int = 1_000_000, days: int = 7) -> TabularJob:
    """The dlrm split with ``index = hash mod num_embeddings`` tables."""
    params = {"protocol": "facebookresearch/dlrm split, hashed tables", "days": days,
              "num_embeddings": num_embeddings, "dense": "log(max(x,0)+1)", "categorical": "hash mod size"}
    return _job("criteo-kaggle-hashed", sources, ModuloEncoder([num_embeddings] * len(DEFAULT_CAT_NAMES)),
                lambda rows: dlrm_split_rule(rows, days), params)


def criteo_1tb_job(sources: list[Path], sizes: tuple[int, ...] = CRITEO_1TB_SIZES) -> TabularJob:
    """Criteo 1TB: all days but the last train, the last halved into val | test; hashed tables."""
    params = {"protocol": "torchrec/MLPerf DLRM Criteo 1TB", "sizes": list(sizes), "dense": "log(max(x,0)+1)",
              "categorical": "hash mod size", "split": "days 0-22 train; day 23: val | test"}
    return _job("criteo-1tb", sources, ModuloEncoder(list(sizes)), last_file_halved_rule, params)
