"""Synthetic datasets written in the *native* file formats, so that the real loaders read them.

Each generator is seeded and writes the real columns and types: Zipf-distributed categorical
frequencies (rank ``k`` drawn with probability ∝ ``k^-zipf_s``) and a planted signal, i.e. labels
drawn from a known logistic function of the features, so that a model trained on the file must beat
chance. Smoke profiles and tests use them in place of the real data; benchmarks use them at full size.

* :func:`write_criteo_tsv`: Criteo Kaggle/1TB ``train.txt`` lines (label, I1..I13, C1..C26 in hex),
  with Criteo's missing-value pattern; the click probability is
  ``sigmoid(bias + Σ_j w_j·log1p(I_j) + Σ_{j<4} e_j[rank of C_j])``.
* :func:`write_movielens`: ``u.data`` / ``ratings.dat`` / ``ratings.csv`` plus item and user files;
  the rating is a rounded, clipped ``3.5 + user bias + item bias + noise``.
* :func:`write_taobao_user_behavior`: ``UserBehavior.csv`` rows grouped by user, time-ordered,
  behaviours pv/cart/fav/buy with Taobao's proportions; engagement more likely when the category
  repeats the previous event's.
* :func:`write_taobao_ad`: the three Tianchi 56 files (``raw_sample.csv``, ``ad_feature.csv``,
  ``user_profile.csv``) with their headers, ``NULL`` brands and missing profile fields; the click
  rate depends on the ad's category and the user's gender code.
* :func:`write_frappe_libfm`: the NFM/BARS Frappe libfm files (CRLF, labels 1/-1, 10 one-hot tokens
  in their fields' index blocks); the label depends on the user, item and daytime.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from harness.atomic import atomic_path
from harness.data.frappe import FIELD_SIZES, FIELD_STARTS

# Missing-value rate of each Criteo column, measured on the first 10,109 lines of Kaggle train.txt.
CRITEO_DENSE_MISSING = (0.449, 0.0, 0.203, 0.198, 0.049, 0.252, 0.049, 0.001, 0.049, 0.449, 0.049, 0.774, 0.198)
CRITEO_CAT_MISSING = (0, 0, .036, .036, 0, .133, 0, 0, 0, 0, 0, .036, 0, 0, 0, .036, 0, 0, .45, .45, .036, .818,
                      0, .036, .45, .45)
# Table sizes of the facebookresearch/dlrm Kaggle protocol (cardinality of C1..C26 over train.txt).
CRITEO_KAGGLE_CARDINALITY = (1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
                             27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572)


MAX_LOG_COUNT = float(np.log(2.0**31))


def zipf_ranks(rng: np.random.Generator, vocab: int, size: int, s: float = 1.1) -> np.ndarray:
    """`size` ranks in ``[0, vocab)`` with P(rank k) ∝ (k+1)^-s (a truncated Zipf law)."""
    weights = np.arange(1, vocab + 1, dtype=np.float64) ** -s
    cdf = np.cumsum(weights)
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1]), vocab - 1)


def _open_out(tmp: Path, gzip_output: bool) -> BinaryIO:
    """The temporary output file, gzip-compressed if asked (fast level: it is test data)."""
    return gzip.open(tmp, "wb", compresslevel=1) if gzip_output else tmp.open("wb")  # type: ignore[return-value]


def _write_table(handle: BinaryIO, table: pa.Table, delimiter: str) -> None:
    """Append `table` as header-less, unquoted delimited text (nulls as empty fields)."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(
        include_header=False, delimiter=delimiter, quoting_style="none"))
    handle.write(sink.getvalue().to_pybytes())


def write_criteo_tsv(path: Path, rows: int, seed: int = 0, max_vocab: int = 100_000, zipf_s: float = 1.1,
                     chunk_rows: int = 250_000) -> Path:
    """Write `rows` Criteo-format lines to `path` (gzip if it ends in ``.gz``); atomic; returns `path`."""
    rng = np.random.default_rng(seed)
    vocab = [min(c, max_vocab) for c in CRITEO_KAGGLE_CARDINALITY]
    hashes = [rng.choice(np.iinfo(np.uint32).max, size=v, replace=False).astype(np.uint32) for v in vocab]
    hex_words = [pa.array([f"{h:08x}" for h in table]) for table in hashes]
    dense_scale = rng.uniform(0.5, 2.5, size=13)
    dense_weight = rng.normal(0, 0.25, size=13)
    cat_effect = [rng.normal(0, 1.0, size=v) for v in vocab[:4]]
    with atomic_path(path) as tmp, _open_out(tmp, path.suffix == ".gz") as handle:
        for start in range(0, rows, chunk_rows):
            n = min(chunk_rows, rows - start)
            # Counts capped at 2^31 - 1 (beyond any real Criteo count; uncapped, the exponential's
            # tail overflows int64 a few times in 45M rows).
            logdense = np.minimum(rng.exponential(dense_scale, size=(n, 13)), MAX_LOG_COUNT)
            dense = np.floor(np.expm1(logdense)).astype(np.int64)
            dense[:, 1] -= (rng.random(n) < 0.1).astype(np.int64) * rng.integers(1, 3, size=n)
            ranks = [zipf_ranks(rng, v, n, zipf_s) for v in vocab]
            logit = -1.6 + (np.log1p(np.maximum(dense, 0)) - dense_scale) @ dense_weight
            logit += sum(effect[r] for effect, r in zip(cat_effect, ranks))
            labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
            columns = [pa.array(labels)]
            columns += [pa.array(dense[:, j], mask=rng.random(n) < CRITEO_DENSE_MISSING[j]) for j in range(13)]
            for j in range(26):
                missing = rng.random(n) < CRITEO_CAT_MISSING[j]
                indices = pa.array(ranks[j].astype(np.int32), mask=missing)
                columns.append(pa.DictionaryArray.from_arrays(indices, hex_words[j]).dictionary_decode())
            _write_table(handle, pa.table(columns, names=[str(i) for i in range(40)]), "\t")
    return path


ML_GENRES = ("Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
             "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")


def _ratings(rng: np.random.Generator, rows: int, users: int, items: int, zipf_s: float) -> tuple[np.ndarray, ...]:
    """Synthetic (user, item, rating, timestamp): Zipf item popularity, rating = 3.5 + biases + noise."""
    user = rng.integers(1, users + 1, size=rows)
    item = zipf_ranks(rng, items, rows, zipf_s) + 1
    user_bias, item_bias = rng.normal(0, 0.6, users + 1), rng.normal(0, 0.8, items + 1)
    rating = np.clip(np.rint(3.5 + user_bias[user] + item_bias[item] + rng.normal(0, 0.7, rows)), 1, 5)
    timestamp = 956_703_932 + np.sort(rng.integers(0, 90_000_000, size=rows))
    return user, item, rating.astype(np.int64), timestamp


def _text(path: Path, lines: list[str], encoding: str = "latin-1") -> None:
    """Write small side files atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in lines), encoding=encoding)


def write_movielens(folder: Path, release: str, rows: int, seed: int = 0, users: int = 500, items: int = 800,
                    zipf_s: float = 1.0) -> Path:
    """Write a synthetic MovieLens `release` (``100k``, ``1m`` or a csv release such as ``20m``) in its layout.

    `folder` plays ``<data dir>/movielens_<release>``; returns it.
    """
    rng = np.random.default_rng(seed)
    user, item, rating, timestamp = _ratings(rng, rows, users, items, zipf_s)
    genres = [sorted(rng.choice(len(ML_GENRES), size=rng.integers(1, 4), replace=False)) for _ in range(items)]
    genders, ages = rng.choice(["M", "F"], users), rng.choice([1, 18, 25, 35, 45, 50, 56], users)
    occupations, zips = rng.integers(0, 21, users), rng.integers(10000, 99999, users)
    if release == "100k":
        sub = folder / "ml-100k"
        table = pa.table([pa.array(c) for c in (user, item, rating, timestamp)], names=["u", "i", "r", "t"])
        with atomic_path(sub / "u.data") as tmp, tmp.open("wb") as handle:
            _write_table(handle, table, "\t")
        _text(sub / "u.item", [f"{i + 1}|Movie {i + 1} (1995)|01-Jan-1995||http://example|"
                               + "|".join("1" if g - 1 in genres[i] else "0" for g in range(19)) for i in range(items)])
        _text(sub / "u.user", [f"{u + 1}|{ages[u]}|{genders[u]}|occ{occupations[u]}|{zips[u]}" for u in range(users)])
    elif release == "1m":
        sub = folder / "ml-1m"
        _text(sub / "ratings.dat", [f"{a}::{b}::{c}::{d}" for a, b, c, d in zip(user, item, rating, timestamp)])
        _text(sub / "movies.dat", [f"{i + 1}::Movie {i + 1} (1995)::" + "|".join(ML_GENRES[g] for g in genres[i])
                                   for i in range(items)])
        _text(sub / "users.dat", [f"{u + 1}::{genders[u]}::{ages[u]}::{occupations[u]}::{zips[u]}"
                                  for u in range(users)])
    else:
        sub = folder / f"ml-{release}"
        half = rating - rng.integers(0, 2, rows) * 0.5
        _text(sub / "ratings.csv", ["userId,movieId,rating,timestamp",
                                    *(f"{a},{b},{c:g},{d}" for a, b, c, d in zip(user, item, np.maximum(half, 0.5),
                                                                                timestamp))])
        _text(sub / "movies.csv", ["movieId,title,genres",
                                   *(f'{i + 1},"Movie {i + 1}, The (1995)",' + "|".join(ML_GENRES[g] for g in genres[i])
                                     for i in range(items))])
    return folder


TAOBAO_BEHAVIOR_SHARE = (0.895, 0.055, 0.029, 0.021)  # pv, cart, fav, buy (UserBehavior.csv)
TAOBAO_WINDOW = (1511539200, 1512316800)  # [2017-11-25, 2017-12-04) Asia/Shanghai


def write_taobao_user_behavior(path: Path, users: int, events_per_user: int = 40, seed: int = 0, items: int = 5_000,
                               categories: int = 200, out_of_window: float = 0.001, zipf_s: float = 1.1) -> Path:
    """Write a synthetic ``UserBehavior.csv``: rows grouped by user (ids in string order), time-ordered.

    Items are Zipf-popular, each in a fixed category; a small share of events lies outside the
    official window (as in the real file). Planted signal: an event whose category equals the
    user's previous event's category is three times as likely to be a cart/fav/buy.
    """
    rng = np.random.default_rng(seed)
    item_category = rng.integers(1, categories + 1, size=items + 1)
    user_ids = sorted(range(1, users + 1), key=str)
    counts = rng.poisson(events_per_user, size=users) + 1
    n = int(counts.sum())
    user = np.repeat(np.asarray(user_ids), counts)
    item = zipf_ranks(rng, items, n, zipf_s) + 1
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    same = np.zeros(n, dtype=bool)
    same[1:] = item_category[item[1:]] == item_category[item[:-1]]
    same[first] = False
    share = np.asarray(TAOBAO_BEHAVIOR_SHARE)
    engaged = rng.random(n) < np.where(same, 3, 1) * (1 - share[0])
    behavior = np.where(engaged, rng.choice([1, 2, 3], size=n, p=share[1:] / share[1:].sum()), 0)
    start, end = TAOBAO_WINDOW
    stamps = rng.integers(start, end, size=n)
    stamps[rng.random(n) < out_of_window] -= 30 * 86_400
    order = np.lexsort((stamps, np.repeat(np.arange(users), counts)))
    names = np.asarray(["pv", "cart", "fav", "buy"])
    table = pa.table([pa.array(user), pa.array(item[order]), pa.array(item_category[item[order]]),
                      pa.array(names[behavior[order]]), pa.array(stamps[order])], names=list("uicbt"))
    with atomic_path(path) as tmp, _open_out(tmp, path.suffix == ".gz") as handle:
        _write_table(handle, table, ",")
    return path


def write_taobao_ad(folder: Path, rows: int, users: int = 300, ads: int = 400, seed: int = 0,
                    zipf_s: float = 1.1) -> Path:
    """Write synthetic ``raw_sample.csv``, ``ad_feature.csv`` and ``user_profile.csv`` into `folder`.

    Native headers and formats (brand ``NULL`` for some ads, empty profile levels, users without a
    profile, ``pid`` slots ``430548_1007`` / ``430539_1007``), impressions over 2017-05-06..13 CST.
    Planted signal: the click rate is 12% when the ad's category parity equals the user's gender
    code parity, else 2%.
    """
    rng = np.random.default_rng(seed)
    cate = rng.integers(1, 60, size=ads + 1)
    brand = np.where(rng.random(ads + 1) < 0.3, "NULL", rng.integers(1, 500, size=ads + 1).astype(str))
    price = np.round(rng.lognormal(4, 1.2, size=ads + 1), 2)
    _text(folder / "ad_feature.csv", ["adgroup_id,cate_id,campaign_id,customer,brand,price",
                                      *(f"{a},{cate[a]},{rng.integers(1, 300)},{rng.integers(1, 200)},{brand[a]},"
                                        f"{price[a]:g}" for a in range(1, ads + 1))])
    gender = rng.integers(1, 3, size=users + 1)
    level = rng.integers(1, 4, size=(users + 1, 2)).astype(str)
    level[rng.random((users + 1, 2)) < 0.3] = ""
    with_profile = [u for u in range(1, users + 1) if rng.random() < 0.9]
    _text(folder / "user_profile.csv", [
        "userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,occupation,"
        "new_user_class_level ",
        *(f"{u},0,{rng.integers(0, 13)},{gender[u]},{rng.integers(0, 7)},{level[u, 0]},{rng.integers(1, 4)},"
          f"{rng.integers(0, 2)},{level[u, 1]}" for u in with_profile)])
    user = rng.integers(1, users + 1, size=rows)
    ad = zipf_ranks(rng, ads, rows, zipf_s) + 1
    stamp = 1494000000 + rng.integers(0, 8 * 86_400, size=rows)
    clk = (rng.random(rows) < np.where(cate[ad] % 2 == gender[user] % 2, 0.12, 0.02)).astype(np.int64)
    pid = np.where(rng.random(rows) < 0.6, "430548_1007", "430539_1007")
    _text(folder / "raw_sample.csv", ["user,time_stamp,adgroup_id,pid,nonclk,clk",
                                      *(f"{u},{t},{a},{p},{1 - c},{c}" for u, t, a, p, c in zip(user, stamp, ad, pid, clk))])
    return folder


FRAPPE_PARTS = ("train", "validation", "test")


def write_frappe_libfm(folder: Path, rows: dict[str, int], seed: int = 0, zipf_s: float = 1.1) -> Path:
    """Write synthetic ``frappe.<part>.libfm`` files (parts of `rows`, e.g. ``{"validation": 800, "test": 400}``).

    The NFM layout: ``label idx:1 …`` with CRLF endings, labels ``1`` / ``-1``, 10 one-hot tokens,
    token ``j`` an index inside field ``j``'s block of the 5,382-feature space (Zipf-distributed
    within the block). Planted signal: ``P(label = 1) = sigmoid(e_user + e_item + e_daytime - 0.7)``
    with fixed random per-value effects, so about a third of the rows are positive, as in Frappe.
    """
    rng = np.random.default_rng(seed)
    effects = [rng.normal(0, 1.5, size) for size in FIELD_SIZES[:3]]
    for part, n in rows.items():
        if part not in FRAPPE_PARTS:
            raise ValueError(f"unknown Frappe part {part!r}; known: {', '.join(FRAPPE_PARTS)}")
        local = np.stack([zipf_ranks(rng, size, n, zipf_s) for size in FIELD_SIZES], axis=1)
        logit = sum(effects[j][local[:, j]] for j in range(3)) - 0.7
        labels = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "1", "-1")
        tokens = local + np.asarray(FIELD_STARTS)
        lines = [f"{y} " + " ".join(f"{t}:1" for t in row) for y, row in zip(labels, tokens.tolist())]
        with atomic_path(folder / f"frappe.{part}.libfm") as tmp:
            tmp.write_bytes("".join(f"{line}\r\n" for line in lines).encode())
    return folder
