"""MovieLens: real 100K and 1M-sample files, synthetic files of every release, both protocols."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data.api import load_splits
from harness.data.cache import load_npy
from harness.data.synthetic import write_movielens


def _all_labels(folder: Path) -> np.ndarray:
    return np.concatenate([load_npy(folder / s / "labels.npy") for s in ("train", "val", "test")])


def test_real_100k(real_data_dir: Path) -> None:
    if not (real_data_dir / "movielens_100k" / "ml-100k" / "u.data").is_file():
        pytest.skip("movielens_100k/ml-100k/u.data absent")
    splits = load_splits("movielens-100k", real_data_dir, batch_size=512)
    m = splits.manifest
    assert m["rows"] == 100_000 and m["splits"] == {"train": 80_000, "val": 10_000, "test": 10_000}
    assert m["table_sizes"]["user_id"] == 943 and m["table_sizes"]["item_id"] == 1682
    assert m["table_sizes"]["genres"] == 19
    counts = np.bincount(_all_labels(splits.folder).astype(int), minlength=6)[1:]
    assert counts.tolist() == [6110, 11370, 27145, 34174, 21201]  # PROVENANCE.md
    batch = next(iter(splits.train))
    assert batch.sparse_features.keys()[-1] == "genres"
    assert batch.sparse_features["user_id"].lengths().sum() == 512
    assert batch.sparse_features["genres"].lengths().min() >= 1


def test_real_1m_sample_ctr(real_data_dir: Path) -> None:
    if not (real_data_dir / "movielens_1m" / "ml-1m" / "ratings.sample100k.dat").is_file():
        pytest.skip("movielens_1m/ml-1m/ratings.sample100k.dat absent")
    splits = load_splits("movielens-1m-ctr", real_data_dir)
    m = splits.manifest
    assert m["rows"] == 100_000
    assert m["table_sizes"]["user_id"] == 5958 and m["table_sizes"]["item_id"] == 3312
    assert _all_labels(splits.folder).sum() == 34_913 + 22_570  # ratings 4 and 5, PROVENANCE.md


@pytest.mark.parametrize("release", ["100k", "1m", "20m"])
def test_synthetic_release(tmp_path: Path, release: str) -> None:
    folder = write_movielens(tmp_path / f"movielens_{release}", release, rows=3_000, seed=1)
    explicit = load_splits(f"movielens-{release}", tmp_path, batch_size=100)
    ctr = load_splits(f"movielens-{release}-ctr", tmp_path, batch_size=100)
    ratings = _all_labels(explicit.folder)
    assert explicit.manifest["rows"] == 3_000 == ctr.manifest["rows"]
    assert ratings.min() >= 0.5 and ratings.max() <= 5
    np.testing.assert_array_equal(_all_labels(ctr.folder), (ratings >= 4).astype(np.float32))
    expected_keys = 7 if release in ("100k", "1m") else 3
    assert len(explicit.keys) == expected_keys
    assert folder.is_dir()
