"""Taobao UserBehavior: the real 84,475-line head, synthetic files, history construction and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data import registry
from harness.data.api import load_splits
from harness.data.cache import load_npy
from harness.data.delimited import BadLineError
from harness.data.synthetic import write_taobao_user_behavior
from harness.errors import DataError

SAMPLE = "UserBehavior.head84475.csv"


def _all(folder: Path, name: str) -> np.ndarray:
    return np.concatenate([load_npy(folder / s / name) for s in ("train", "val", "test")])


@pytest.mark.slow
def test_real_sample(real_data_dir: Path) -> None:
    if not (real_data_dir / "taobao_user_behavior" / SAMPLE).is_file():
        pytest.skip(f"taobao_user_behavior/{SAMPLE} absent")
    splits = load_splits("taobao-user-behavior", real_data_dir, batch_size=256)
    m = splits.manifest
    assert m["rows"] == 84_440  # PROVENANCE.md: 84,440 of 84,475 rows in the official window
    assert m["splits"] == {"train": 61_543, "val": 11_520, "test": 11_377}  # CST days 11-25..12-01 | 12-02 | 12-03
    assert m["table_sizes"]["user_id"] == 815 and m["table_sizes"]["category_id"] == 2913
    assert m["table_sizes"]["hist_item"] == m["table_sizes"]["item_id"] == 55_344
    behaviors = np.bincount(_all(splits.folder, "labels.npy").astype(int), minlength=4)
    assert behaviors.tolist() == [75_837, 4_497, 2_356, 1_750]  # pv, cart, fav, buy in the window
    lengths = np.diff(load_npy(splits.folder / "train" / "hist_item.offsets.npy"))
    assert lengths.max() == 50 and (lengths == 0).sum() > 0  # capped at L; a user's first event has none
    assert m["checks"]["disjoint"] == "ok" and m["checks"]["index_ranges"] == "ok"
    batch = next(iter(splits.test))
    kjt = batch.sparse_features.to_dict()
    assert list(kjt) == ["user_id", "item_id", "category_id", "hist_item", "hist_category"]
    assert kjt["hist_item"].lengths().tolist() == kjt["hist_category"].lengths().tolist()


def test_histories_are_the_previous_events(tmp_path: Path) -> None:
    source = write_taobao_user_behavior(tmp_path / "taobao_user_behavior" / "UserBehavior.csv", users=60, seed=4)
    splits = load_splits("taobao-user-behavior", tmp_path, batch_size=64)
    m = splits.manifest
    assert 0 < m["splits"]["test"] < m["splits"]["train"] and m["rows"] < sum(1 for _ in source.open())
    dicts = splits.folder / "dicts"
    items, users = load_npy(dicts / "item_id.npy"), load_npy(dicts / "user_id.npy")
    # rebuild the expected histories of one user from the raw rows
    raw = np.loadtxt(source, delimiter=",", dtype=str)
    stamps = raw[:, 4].astype(np.int64)
    raw = raw[(stamps >= 1511539200) & (stamps < 1512316800)]
    user = raw[0, 0]
    events = raw[raw[:, 0] == user]
    events = events[np.argsort(events[:, 4].astype(np.int64), kind="stable")]
    rows = []
    for split in ("train", "val", "test"):
        sparse = load_npy(splits.folder / split / "sparse.npy")
        values = load_npy(splits.folder / split / "hist_item.values.npy")
        offsets = load_npy(splits.folder / split / "hist_item.offsets.npy")
        row_ids = load_npy(splits.folder / split / "row_ids.npy")
        for r in np.flatnonzero(users[sparse[:, 0]] == int(user)):
            rows.append((row_ids[r], items[sparse[r, 1]], items[values[offsets[r]: offsets[r + 1]]].tolist()))
    rows.sort()
    expected_items = events[:, 1].astype(np.int64).tolist()
    assert [r[1] for r in rows] == expected_items
    for t, (_, _, history) in enumerate(rows):
        assert history == expected_items[max(0, t - 50): t]


def test_history_length_is_part_of_the_protocol(tmp_path: Path) -> None:
    from harness.data import pipeline, taobao
    source = write_taobao_user_behavior(tmp_path / "UserBehavior.csv", users=30, seed=5)
    short = pipeline.run(taobao.user_behavior_job([source], history=3), tmp_path / "short")
    lengths = np.diff(load_npy(tmp_path / "short" / "train" / "hist_item.offsets.npy"))
    assert lengths.max() == 3 and short["params"]["history_length"] == 3


def test_bad_behavior_and_ungrouped_file(tmp_path: Path, cache_dir: Path) -> None:
    entry = registry.get_entry("taobao-user-behavior")
    folder = tmp_path / "data" / "taobao_user_behavior"
    folder.mkdir(parents=True)
    lines = [f"{u},{10 + i},{i % 3},pv,{1511600000 + i}\n" for u in (1, 2, 3) for i in range(40)]
    bad = list(lines)
    bad[50] = "2,11,1,click,1511600001\n"
    (folder / "UserBehavior.csv").write_text("".join(bad))
    with pytest.raises(BadLineError, match=r"UserBehavior.csv:51: .*behavior must be one of pv, cart, fav, buy"):
        registry.prepare(entry, tmp_path / "data")
    ungrouped = lines[:20] + lines[40:60] + lines[20:40] + lines[60:]
    (folder / "UserBehavior.csv").write_text("".join(ungrouped))
    with pytest.raises(DataError, match="not contiguous"):
        registry.prepare(entry, tmp_path / "data")
    assert not [p for p in cache_dir.rglob("*") if p.is_file()]


def test_user_split_over_blocks_is_caught(tmp_path: Path) -> None:
    import dataclasses

    from harness.data import pipeline, taobao
    lines = [f"{u},{10 + i},{i % 3},{'pv' if i % 4 else 'buy'},{1511600000 + i}\n" for u in (1, 2) for i in range(40)]
    path = tmp_path / "UserBehavior.csv"
    path.write_text("".join(lines[:20] + lines[40:60] + lines[20:40] + lines[60:]))
    job = dataclasses.replace(taobao.user_behavior_job([path]), block_bytes=256)
    with pytest.raises(DataError, match="not contiguous"):
        pipeline.run(job, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def _ad_data(tmp_path: Path, rows: int = 3_000) -> Path:
    from harness.data.synthetic import write_taobao_ad
    write_taobao_ad(tmp_path / "data" / "taobao_ad", rows, seed=7)
    return tmp_path / "data"


def test_taobao_ad_synthetic(tmp_path: Path) -> None:
    data_dir = _ad_data(tmp_path)
    splits = load_splits("taobao-ad", data_dir, batch_size=128)
    m = splits.manifest
    raw = np.loadtxt(data_dir / "taobao_ad" / "raw_sample.csv", delimiter=",", skiprows=1, dtype=str)
    stamps, clicks = raw[:, 1].astype(np.int64), raw[:, 5].astype(np.int64)
    assert m["rows"] == 3_000 and m["splits"]["test"] == int((stamps >= 1494000000 + 7 * 86_400).sum())
    assert 0.07 < m["splits"]["val"] / (m["splits"]["train"] + m["splits"]["val"]) < 0.13
    assert _all(splits.folder, "labels.npy").sum() == clicks.sum()
    assert m["table_sizes"]["pid"] == 2 and len(splits.keys) == 15 and splits.dense_names == ["log_price"]
    report = registry.verify(registry.get_entry("taobao-ad"), data_dir)
    assert report["cache"]["checks"]["no_label_leak"] == "ok"
    assert registry.status(registry.get_entry("taobao-ad"), data_dir) == "verified"


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace(",1,0\n", ",1,1\n", 1), "exactly one of nonclk and clk must be 1"),
    (lambda t: t.replace(",430548_1007,", ",430548-1007,", 1), "field pid must look like"),
    (lambda t: t.replace("\n", "\n1,1494000000,999999,430548_1007,1,0\n", 1), "ad 999999 is not in ad_feature.csv"),
])
def test_taobao_ad_bad_lines(tmp_path: Path, cache_dir: Path, edit, message: str) -> None:
    data_dir = _ad_data(tmp_path, rows=400)
    raw = data_dir / "taobao_ad" / "raw_sample.csv"
    raw.write_text(edit(raw.read_text()))
    with pytest.raises(BadLineError, match=rf"raw_sample.csv:\d+: .*{message}"):
        load_splits("taobao-ad", data_dir)
    assert not [p for p in cache_dir.rglob("*") if p.is_file()]


def test_taobao_ad_side_files(tmp_path: Path) -> None:
    data_dir = _ad_data(tmp_path, rows=400)
    ads = data_dir / "taobao_ad" / "ad_feature.csv"
    ads.write_text(ads.read_text().replace("adgroup_id,cate_id", "adgroup,cate_id", 1))
    with pytest.raises(DataError, match="ad_feature.csv: header adgroup, cate_id.*expected adgroup_id"):
        load_splits("taobao-ad", data_dir)
    (data_dir / "taobao_ad" / "user_profile.csv").unlink()
    with pytest.raises(DataError, match="user_profile.csv"):
        load_splits("taobao-ad", data_dir)
