"""Criteo protocols end to end: real sample, synthetic files, split rules and the batch loader."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data import registry
from harness.data.api import load_splits
from harness.data.criteo import dlrm_day_bounds
from harness.data.cache import load_npy

SAMPLE = "train.head10109.txt"


def test_column_names_match_torchrec_and_preprocessing_needs_no_torch() -> None:
    import subprocess
    import sys

    from torchrec.datasets import criteo as torchrec_criteo

    from harness.data import criteo_tsv
    assert criteo_tsv.DEFAULT_LABEL_NAME == torchrec_criteo.DEFAULT_LABEL_NAME
    assert list(criteo_tsv.DEFAULT_INT_NAMES) == list(torchrec_criteo.DEFAULT_INT_NAMES)
    assert list(criteo_tsv.DEFAULT_CAT_NAMES) == list(torchrec_criteo.DEFAULT_CAT_NAMES)
    code = ("import sys; from harness.data import pipeline, criteo, movielens, taobao, taobao_ad; "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_dlrm_days_follow_divmod_with_extras_first() -> None:
    bounds = dlrm_day_bounds(10_109)
    assert np.diff(bounds).tolist() == [1445] + [1444] * 6


def test_real_sample_dlrm_protocol(real_data_dir: Path) -> None:
    if not (real_data_dir / "criteo_dac" / SAMPLE).is_file():
        pytest.skip(f"{real_data_dir}/criteo_dac/{SAMPLE} absent")
    splits = load_splits("criteo-kaggle-dlrm", real_data_dir, batch_size=1000)
    m = splits.manifest
    assert m["rows"] == 10_109 and m["skipped_lines"] == 0 and m["padded_lines"] == 0
    assert m["splits"] == {"train": 8665, "val": 722, "test": 722}
    folder = splits.folder
    labels = np.concatenate([load_npy(folder / s / "labels.npy") for s in ("train", "val", "test")])
    assert labels.sum() == 2198  # PROVENANCE.md: 2,198 positives
    test_rows = load_npy(folder / "test" / "row_ids.npy")
    assert test_rows[0] == 8665 and test_rows[-1] == 8665 + 721  # test = first half of day 6
    first = load_npy(folder / "train" / "dense.npy")[0]  # line 1: 1 1 5 0 1382 4 15 2 181 1 2 <empty> 2
    np.testing.assert_allclose(first, np.log1p([1, 1, 5, 0, 1382, 4, 15, 2, 181, 1, 2, 0, 2]), rtol=1e-6)
    assert splits.table_sizes["cat_8"] == 3 and len(splits.table_sizes) == 26
    batch = next(iter(splits.val))
    assert batch.dense_features.shape == (722 if len(splits.val) == 1 else 1000, 13)
    assert batch.sparse_features.keys() == [f"cat_{i}" for i in range(26)]
    assert m["checks"] == {k: "ok" for k in ("shapes", "disjoint", "labels", "no_label_leak", "index_ranges")}


def test_synthetic_all_kaggle_protocols(criteo_file: Path) -> None:
    for dataset_id in ("criteo-kaggle-dlrm", "criteo-kaggle-bars", "criteo-kaggle-hashed"):
        splits = load_splits(dataset_id, raw=criteo_file, batch_size=256)
        m = splits.manifest
        assert sum(m["splits"].values()) == 20_000
        if dataset_id == "criteo-kaggle-bars":
            assert m["splits"] == {"train": 14_000, "val": 4_000, "test": 2_000}
        for split in ("train", "val", "test"):
            sparse = load_npy(splits.folder / split / "sparse.npy")
            assert (sparse.max(axis=0) < np.array(list(splits.table_sizes.values()))).all()


def test_status_and_verify_cycle(criteo_file: Path) -> None:
    entry = registry.get_entry("criteo-kaggle-dlrm")
    data_dir = criteo_file.parent
    assert registry.status(entry, data_dir / "nowhere") == "absent"
    registry.prepare(entry, data_dir / "nowhere", raw=criteo_file)
    assert registry.status(entry, data_dir / "nowhere") == "prepared"
    report = registry.verify(entry, data_dir / "nowhere")
    assert report["cache"]["checks"]["disjoint"] == "ok"
    assert registry.status(entry, data_dir / "nowhere") == "verified"
    touched = Path(report["cache"]["folder"]) / "val" / "labels.npy"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    assert registry.status(entry, data_dir / "nowhere") == "prepared"  # changed since the verify


def _epoch_rows(loader) -> list[torch.Tensor]:
    return [b.dense_features.clone() for b in loader]


def test_loader_is_deterministic_shuffled_and_sharded(criteo_file: Path) -> None:
    splits = load_splits("criteo-kaggle-dlrm", raw=criteo_file, batch_size=100)
    a, b = _epoch_rows(splits.train), _epoch_rows(splits.train)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    splits.train.set_epoch(1)
    c = _epoch_rows(splits.train)
    assert not torch.equal(torch.cat(a), torch.cat(c))
    n_train = splits.manifest["splits"]["train"]
    assert sum(len(x) for x in a) == n_train // 100 * 100
    shards = [load_splits("criteo-kaggle-dlrm", raw=criteo_file, batch_size=100, rank=r, world_size=2,
                          seed=0).train for r in range(2)]
    assert len(shards[0]) == len(shards[1]) > 0
    rows = [torch.cat(_epoch_rows(s)) for s in shards]
    # no training row reaches both ranks: compare whole dense rows
    seen = {tuple(r.tolist()) for r in rows[0]}
    assert not any(tuple(r.tolist()) in seen for r in rows[1][:500])


def test_eval_shards_cover_split_once(criteo_file: Path) -> None:
    full = load_splits("criteo-kaggle-dlrm", raw=criteo_file, batch_size=128).val
    total = sum(len(b.labels) for b in full)
    parts = [load_splits("criteo-kaggle-dlrm", raw=criteo_file, batch_size=128, rank=r, world_size=3).val
             for r in range(3)]
    assert sum(len(b.labels) for p in parts for b in p) == total == len(full.split)


def test_kjt_matches_cached_indices(criteo_file: Path) -> None:
    splits = load_splits("criteo-kaggle-dlrm", raw=criteo_file, batch_size=64)
    batch = next(iter(splits.test))
    sparse = load_npy(splits.folder / "test" / "sparse.npy")[:64]
    kjt = batch.sparse_features.to_dict()
    for j in (0, 7, 25):
        assert kjt[f"cat_{j}"].values().tolist() == sparse[:, j].tolist()
        assert kjt[f"cat_{j}"].lengths().tolist() == [1] * 64
