"""Taobao User Behavior (Alibaba Tianchi dataset 649): time-ordered per-user behaviour sequences.

Raw file ``UserBehavior.csv`` (the shared head ``UserBehavior.head84475.csv`` is accepted in its
place): ``user,item,category,behavior,timestamp``, comma-separated, no header; behavior is one of
``pv`` (page view), ``cart``, ``fav``, ``buy``; timestamp in Unix seconds. The published file is
grouped by user (ids in string order) and time-ordered within a user; Zhu et al., "Learning
Tree-based Deep Model for Recommender Systems" (KDD 2018) introduced it.

**Date window.** Tianchi's description: "about 1 million users who have behaviors … during
November 25 to December 03, 2017"; it gives no time zone. The day boundaries are Asia/Shanghai
(UTC+8): in-window rows start right after 2017-11-25 00:00 CST and the last one is 2017-12-03
23:59:23 CST (1512316763), and the shared sample's rows per CST day are even (8.3k-11.5k).
So the window is ``[1511539200, 1512316800)`` = [2017-11-25 00:00, 2017-12-04 00:00) CST; the
rows outside it (35 in the shared sample, a known feature of the full file) are dropped and counted
(``filtered_rows`` of the manifest params is the rule; the manifest's ``rows`` are the kept rows).

**Protocol** ``taobao-user-behavior`` (history length L, default 50): every in-window event is a
sample. Its features are ``user_id``, the ``item_id`` and ``category_id`` of the event, and the
jagged keys ``hist_item`` / ``hist_category``: the item and category ids of the user's previous
min(t, L) events in time order (t = the event's position in the user's history; the first event
has an empty history). The label is the event's behaviour, ``0 pv, 1 cart, 2 fav, 3 buy`` (the
"next behaviour" given the history; ``label > 0`` is the usual "engaged" binary target).
Split by CST day of the event: 2017-12-03 test, 2017-12-02 validation, earlier days train; a
history only looks back, so no sample sees the future. Ids are dictionary-encoded; the history
keys share the vocabularies of ``item_id`` and ``category_id``. ``row_ids`` in the cache count the
kept events in (user, time) order.

Histories are built one block at a time, so blocks are cut at user boundaries and a user split
over two blocks (a file not grouped by user) is an error (:func:`.pipeline.check_groups_whole`).
Histories are materialised per sample (the loader slices them like any jagged key): about
min(t, L) values per key and row, i.e. billions of values for the full 100M-row file at L = 50
(tens of GB on disk); memory stays bounded by the block size, but choose L with the disk in mind.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.data.catalog import DatasetSpec, RawFile
from harness.data.delimited import Arrays, LineFormat, int_column, parse_delimited
from harness.data.encoders import DictionaryEncoder
from harness.data.pipeline import ParsedRows, TabularJob
from harness.data.splits import SPLITS, TEST, TRAIN, VAL
from harness.data.textblocks import TextBlock, before_last_group
from harness.errors import DataError

BEHAVIORS = ("pv", "cart", "fav", "buy")
WINDOW_START = 1511539200  # 2017-11-25 00:00 Asia/Shanghai
WINDOW_END = 1512316800  # 2017-12-04 00:00 Asia/Shanghai (exclusive)
DAY = 86_400
DEFAULT_HISTORY = 50
FULL_ROWS = 100_150_807

USER_BEHAVIOR = LineFormat(
    name="Taobao UserBehavior CSV",
    sep=b",",
    columns=("user_id", "item_id", "category_id", "behavior", "timestamp"),
    types={"user_id": pa.int64(), "item_id": pa.int64(), "category_id": pa.int64(), "behavior": pa.binary(),
           "timestamp": pa.int64()},
    patterns={**{k: (r"^[0-9]+$", "an integer id") for k in ("user_id", "item_id", "category_id")},
              "timestamp": (r"^[0-9]+$", "integer Unix seconds")},
)

SPEC = DatasetSpec(
    id="taobao-user-behavior",
    title="User Behavior Data from Taobao for Recommendation (Tianchi 649), UserBehavior.csv",
    folder="taobao_user_behavior",
    homepage="https://tianchi.aliyun.com/dataset/649",
    files=(RawFile(name="UserBehavior.csv", url=None, rows=FULL_ROWS,
                   alternatives=("UserBehavior.csv.gz", "UserBehavior.head84475.csv")),),
    license="Tianchi data terms: non-commercial research only, no redistribution",
    download_note=("Tianchi requires your own (free) account: download UserBehavior.csv.zip from "
                   "https://tianchi.aliyun.com/dataset/649 and unzip UserBehavior.csv into "
                   "<data dir>/taobao_user_behavior/"),
)


def _convert(table: pa.Table) -> tuple[Arrays, dict[int, str]]:
    """Typed columns of a parsed table (behaviour as its code), and the rows with an unknown behaviour."""
    code = pc.index_in(table.column("behavior"), value_set=pa.array([b.encode() for b in BEHAVIORS], pa.binary()))
    codes, unknown = int_column(pa.chunked_array([pc.cast(code, pa.int64())]))
    problems = {int(row): f"field behavior must be one of {', '.join(BEHAVIORS)}" for row in np.flatnonzero(unknown)}
    ids = [int_column(table.column(k))[0] for k in ("user_id", "item_id", "category_id", "timestamp")]
    return (*ids, codes), problems


def _histories(values: np.ndarray, position: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of each row's previous min(position, length) `values` (rows sorted by user, then time)."""
    counts = np.minimum(position, length)
    starts = np.arange(len(values)) - counts
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    index = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
    return values[index], offsets


def day_split(timestamp: np.ndarray) -> np.ndarray:
    """Split codes by Asia/Shanghai day: the window's last day test, the day before validation, else train."""
    day = (timestamp - WINDOW_START) // DAY
    last = (WINDOW_END - WINDOW_START) // DAY - 1
    return np.where(day == last, TEST, np.where(day == last - 1, VAL, TRAIN)).astype(np.uint8)


def parse_user_behavior(block: TextBlock, path: Path, skip_bad_lines: bool, history: int = DEFAULT_HISTORY) -> ParsedRows:
    """A block of whole users as samples: in-window events sorted by (user, time) with their histories."""
    parsed = parse_delimited(USER_BEHAVIOR, block, path, _convert, skip_bad_lines)
    user, item, category, timestamp, behavior = parsed.arrays
    keep = (timestamp >= WINDOW_START) & (timestamp < WINDOW_END)
    user, item, category, timestamp, behavior = (a[keep] for a in (user, item, category, timestamp, behavior))
    run_start = np.flatnonzero(np.concatenate([[True], user[1:] != user[:-1]])) if len(user) else np.zeros(0, int)
    run = np.cumsum(np.concatenate([[False], user[1:] != user[:-1]])) if len(user) else np.zeros(0, int)
    if len(run_start) != len(pd.unique(user)):
        raise_not_grouped(path, block)
    order = np.lexsort((timestamp, run))
    user, item, category, timestamp, behavior = (a[order] for a in (user, item, category, timestamp, behavior))
    position = np.arange(len(user)) - run_start[run]
    return ParsedRows(labels=behavior.astype(np.float32), dense=np.zeros((len(user), 0), np.float32),
                      cat=np.stack([user, item, category], axis=1), skipped=parsed.skipped, padded=parsed.padded,
                      jagged={"hist_item": _histories(item, position, history),
                              "hist_category": _histories(category, position, history)},
                      split=day_split(timestamp))


def raise_not_grouped(path: Path, block: TextBlock) -> None:
    """The DataError for a block in which some user's rows are not contiguous."""
    raise DataError(f"{path}: lines {block.first_line}-{block.first_line + block.n_lines - 1}: a user's rows are not "
                    f"contiguous. UserBehavior.csv must be grouped by user, as published; restore that order "
                    f"(e.g. `sort -t, -k1,1 -s`) and prepare again.")


def user_behavior_params(history: int = DEFAULT_HISTORY) -> dict[str, object]:
    """The protocol parameters of ``taobao-user-behavior`` (they name its cache folder)."""
    return {"protocol": "time-ordered per-user histories, label = behaviour (0 pv, 1 cart, 2 fav, 3 buy)",
            "history_length": history, "window": "[2017-11-25, 2017-12-04) Asia/Shanghai",
            "window_unix": [WINDOW_START, WINDOW_END], "filtered_rows": "events outside the window are dropped",
            "split": "CST day: 2017-12-03 test, 2017-12-02 val, earlier train"}


def user_behavior_job(sources: list[Path], history: int = DEFAULT_HISTORY) -> TabularJob:
    """The ``taobao-user-behavior`` preprocessing job with history length `history`."""
    return TabularJob(dataset_id="taobao-user-behavior", sources=sources,
                      parse=partial(parse_user_behavior, history=history), encoder=DictionaryEncoder(3),
                      split_rule=None, split_names=SPLITS, dense_names=(),
                      sparse_names=("user_id", "item_id", "category_id"), label_name="behavior",
                      params=user_behavior_params(history), jagged_names=("hist_item", "hist_category"),
                      jagged_vocab={"hist_item": "item_id", "hist_category": "category_id"},
                      block_cut=before_last_group, group_key="user_id")
