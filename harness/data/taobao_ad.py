"""Taobao display-ad click logs (Alibaba Tianchi dataset 56, "Ali_Display_Ad_Click"): CTR samples.

Raw files (comma-separated, each with a header line), in ``<data dir>/taobao_ad/``:

* ``raw_sample.csv``: ``user,time_stamp,adgroup_id,pid,nonclk,clk``, 26,557,961 ad impressions
  of 2017-05-06 .. 2017-05-13; ``pid`` is the ad slot (``430548_1007``); exactly one of
  ``nonclk`` / ``clk`` is 1.
* ``ad_feature.csv``: ``adgroup_id,cate_id,campaign_id,customer,brand,price`` (brand may be
  ``NULL``), 846,811 ads.
* ``user_profile.csv``: ``userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,
  shopping_level,occupation,new_user_class_level`` (the last two levels may be empty), 1,061,768
  users; not every sampled user has a profile.

Protocol ``taobao-ad`` (DIN, Zhou et al. KDD 2018, §6.1 "Alibaba"-style day split on this public
set): label ``clk``; single-valued keys: user, adgroup, pid and the ad's cate_id / campaign_id /
customer / brand, and the user's 8 profile fields (-1, its own index, where the profile or the
field is missing); dense: ``log(1 + price)``. Split by Asia/Shanghai day (2017-05-06 00:00 CST =
1494000000): 2017-05-13 is the test set (the first seven days train, as in DIN's use of this
dataset); a validation set is carved out of the training days deterministically: rows whose
splitmix64 hash of (user, time_stamp, adgroup_id) is 0 mod 10. The side files are read whole
(tens of MB); the impressions stream through the pipeline.

A sample whose ad is missing from ``ad_feature.csv``, or with ``nonclk + clk != 1``, is a malformed line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.data.catalog import DatasetSpec, RawFile
from harness.data.delimited import Arrays, LineFormat, int_column, parse_delimited
from harness.data.encoders import DictionaryEncoder
from harness.data.pipeline import ParsedRows, TabularJob
from harness.data.splits import SPLITS, TEST, TRAIN, VAL
from harness.data.textblocks import TextBlock
from harness.errors import DataError

DAY_ZERO = 1494000000  # 2017-05-06 00:00 Asia/Shanghai
TEST_DAY = 7  # 2017-05-13
VAL_MODULUS = 10
AD_KEYS = ("cate_id", "campaign_id", "customer", "brand")
PROFILE_KEYS = ("cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level", "shopping_level",
                "occupation", "new_user_class_level")
SAMPLE_KEYS = ("user", "adgroup_id", "pid")

RAW_SAMPLE = LineFormat(
    name="Taobao ad raw_sample CSV",
    sep=b",",
    columns=("user", "time_stamp", "adgroup_id", "pid", "nonclk", "clk"),
    types={"user": pa.int64(), "time_stamp": pa.int64(), "adgroup_id": pa.int64(), "pid": pa.string(),
           "nonclk": pa.int64(), "clk": pa.int64()},
    patterns={"user": (r"^[0-9]+$", "an integer id"), "time_stamp": (r"^[0-9]+$", "integer Unix seconds"),
              "adgroup_id": (r"^[0-9]+$", "an integer id"), "nonclk": (r"^[01]$", "0 or 1"),
              "clk": (r"^[01]$", "0 or 1")},
    header=b"user,",
)

SPEC = DatasetSpec(
    id="taobao-ad",
    title="Ad Display/Click Data on Taobao.com (Tianchi 56): raw_sample, ad_feature, user_profile",
    folder="taobao_ad",
    homepage="https://tianchi.aliyun.com/dataset/56",
    files=(RawFile(name="raw_sample.csv", url=None, rows=26_557_961),
           RawFile(name="ad_feature.csv", url=None, rows=846_811),
           RawFile(name="user_profile.csv", url=None, rows=1_061_768)),
    license="Tianchi data terms: non-commercial research only, no redistribution",
    download_note=("Tianchi requires your own (free) account: download raw_sample.csv, ad_feature.csv and "
                   "user_profile.csv from https://tianchi.aliyun.com/dataset/56 into <data dir>/taobao_ad/"),
)


@dataclass(frozen=True)
class AdSide:
    """Ad and user attributes as lookup tables indexed by raw id (-1: unknown id or missing field)."""

    ads: np.ndarray  # [max adgroup id + 1, 4] cate/campaign/customer/brand
    price: np.ndarray  # [max adgroup id + 1] float64, NaN for unknown ads
    users: np.ndarray  # [max user id + 1, 8] profile fields


def _read_side(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A side file read whole (header checked, strings kept); a DataError naming the file if it is malformed."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: could not be read as CSV ({exc}).") from exc
    frame.columns = [c.strip() for c in frame.columns]  # the published user_profile header ends with a space
    if tuple(frame.columns) != columns:
        raise DataError(f"{path}: header {', '.join(frame.columns)}; expected {', '.join(columns)} "
                        f"(is it the right file of dataset 56?).")
    return frame


def _codes(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """An integer column (``NULL`` or empty -> -1); a DataError naming the file if a value is not an integer."""
    values = frame[column].replace({"NULL": "-1", "": "-1"})
    parsed = pd.to_numeric(values, errors="coerce")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise DataError(f"{path}:{row + 2}: field {column} must be an integer, not {frame[column].iloc[row]!r}.")
    return parsed.to_numpy(np.int64)


def _by_id(ids: np.ndarray, columns: list[np.ndarray]) -> np.ndarray:
    """A [max id + 1, len(columns)] table of `columns` indexed by `ids` (-1 elsewhere)."""
    table = np.full((int(ids.max(initial=0)) + 1, len(columns)), -1, dtype=np.int64)
    table[ids] = np.stack(columns, axis=1)
    return table


def read_side(ad_path: Path, user_path: Path) -> AdSide:
    """The ad and user lookup tables of ``ad_feature.csv`` and ``user_profile.csv``."""
    ads = _read_side(ad_path, ("adgroup_id", *AD_KEYS, "price"))
    users = _read_side(user_path, ("userid", *PROFILE_KEYS))
    ad_ids = _codes(ads, "adgroup_id", ad_path)
    ad_table = _by_id(ad_ids, [_codes(ads, k, ad_path) for k in AD_KEYS])
    price = np.full(len(ad_table), np.nan)
    price[ad_ids] = pd.to_numeric(ads["price"], errors="coerce").to_numpy(np.float64)
    user_table = _by_id(_codes(users, "userid", user_path), [_codes(users, k, user_path) for k in PROFILE_KEYS])
    return AdSide(ad_table, price, user_table)


def day_val_test_split(user: np.ndarray, stamp: np.ndarray, adgroup: np.ndarray) -> np.ndarray:
    """Split codes: the last day test; 1 in 10 of the other rows (by a hash of the row) validation."""
    mixed = (user.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ stamp.astype(np.uint64) ^ \
        (adgroup.astype(np.uint64) << np.uint64(32))
    mixed ^= mixed >> np.uint64(31)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(29)
    codes = np.where(mixed % np.uint64(VAL_MODULUS) == 0, VAL, TRAIN).astype(np.uint8)
    codes[(stamp - DAY_ZERO) // 86_400 >= TEST_DAY] = TEST
    return codes


def _parser(side: AdSide) -> Callable[[TextBlock, Path, bool], ParsedRows]:
    """The block parser of ``raw_sample.csv`` joined with the side tables."""
    def convert(table: pa.Table) -> tuple[Arrays, dict[int, str]]:
        user, stamp, adgroup, nonclk, clk = (int_column(table.column(k))[0]
                                             for k in ("user", "time_stamp", "adgroup_id", "nonclk", "clk"))
        pid_text = table.column("pid")
        valid = pc.match_substring_regex(pid_text, r"^[0-9]+_[0-9]+$")
        pid_ok = valid.to_numpy(zero_copy_only=False)
        digits = pc.replace_substring(pc.if_else(valid, pid_text, "0_0"), "_", "")  # "430548_1007" -> 4305481007
        pid = pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False)
        problems = {int(r): "field pid must look like 430548_1007" for r in np.flatnonzero(~pid_ok)}
        for row in np.flatnonzero(nonclk + clk != 1):
            problems.setdefault(int(row), "exactly one of nonclk and clk must be 1")
        known = (adgroup >= 0) & (adgroup < len(side.ads))
        known[known] = ~np.isnan(side.price[adgroup[known]])
        for row in np.flatnonzero(~known):
            problems.setdefault(int(row), f"ad {adgroup[row]} is not in ad_feature.csv")
        return (user, stamp, adgroup, pid, clk), problems

    def parse(block: TextBlock, path: Path, skip_bad_lines: bool) -> ParsedRows:
        parsed = parse_delimited(RAW_SAMPLE, block, path, convert, skip_bad_lines)
        user, stamp, adgroup, pid, clk = parsed.arrays
        has_profile = (user >= 0) & (user < len(side.users))
        profile = np.full((len(user), len(PROFILE_KEYS)), -1, dtype=np.int64)
        profile[has_profile] = side.users[user[has_profile]]
        cat = np.concatenate([np.stack([user, adgroup, pid], axis=1), side.ads[adgroup], profile], axis=1)
        dense = np.log1p(np.maximum(side.price[adgroup], 0)).astype(np.float32)[:, None]
        return ParsedRows(labels=clk.astype(np.float32), dense=dense, cat=cat, skipped=parsed.skipped,
                          padded=parsed.padded, split=day_val_test_split(user, stamp, adgroup))

    return parse


def ad_params() -> dict[str, object]:
    """The protocol parameters of ``taobao-ad`` (they name its cache folder)."""
    return {"protocol": "DIN-style CTR on Taobao ad display logs", "label": "clk", "dense": "log1p(price)",
            "split": "2017-05-13 (CST) test; 1 in 10 of earlier rows (splitmix64 of user, time, ad) val",
            "day_zero": DAY_ZERO, "val_modulus": VAL_MODULUS}


def ad_job(sources: list[Path]) -> TabularJob:
    """The ``taobao-ad`` job from [raw_sample, ad_feature, user_profile]."""
    side = read_side(sources[1], sources[2])
    return TabularJob(dataset_id="taobao-ad", sources=sources[:1], parse=_parser(side),
                      encoder=DictionaryEncoder(len(SAMPLE_KEYS) + len(AD_KEYS) + len(PROFILE_KEYS)),
                      split_rule=None, split_names=SPLITS, dense_names=("log_price",),
                      sparse_names=(*SAMPLE_KEYS, *AD_KEYS, *PROFILE_KEYS), label_name="clk", params=ad_params())
