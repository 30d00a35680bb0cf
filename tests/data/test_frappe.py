"""Frappe (NFM/BARS libfm split): the real validation and test files, synthetic files, malformed lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data import registry
from harness.data.api import load_splits
from harness.data.cache import load_npy
from harness.data.delimited import BadLineError
from harness.data.download import download_dataset
from harness.data.frappe import FIELD_SIZES, FIELD_STARTS, FIELDS, SPEC
from harness.data.synthetic import write_frappe_libfm
from harness.errors import DataError

REAL = "frappe_nfm"


def _column(folder: Path, split: str, name: str) -> np.ndarray:
    return np.asarray(load_npy(folder / split / f"{name}.npy"))


def test_real_validation_and_test_files(real_data_dir: Path) -> None:
    if not (real_data_dir / REAL / "frappe.validation.libfm.gz").is_file():
        pytest.skip(f"{REAL}/frappe.validation.libfm(.gz) absent from {real_data_dir}")
    splits = load_splits("frappe", real_data_dir, batch_size=1024)
    m = splits.manifest
    assert m["splits"] == {"train": 46_178, "val": 11_544, "test": 28_860}
    assert m["table_sizes"] == dict(zip(FIELDS, FIELD_SIZES)) and splits.num_dense == 0
    positives = {s: int(_column(splits.folder, s, "labels").sum()) for s in ("train", "val", "test")}
    assert positives["train"] + positives["val"] == 19_063 and positives["test"] == 9_536  # PROVENANCE.md
    # Train and val come from the validation file (rows 0..57,721), test is the test file: never trained on.
    assert _column(splits.folder, "train", "row_ids").max() < 57_722 <= _column(splits.folder, "test", "row_ids").min()
    batch = next(iter(splits.train))
    assert batch.sparse_features.keys() == list(FIELDS) and batch.dense_features.shape == (1024, 0)
    assert set(batch.labels.unique().tolist()) == {0.0, 1.0}


def test_first_real_line_is_read_by_token_position(real_data_dir: Path) -> None:
    """Line 1 of the validation file: ``1 266:1 1244:1 5042:1 5049:1 5054:1 5055:1 5058:1 5062:1 5074:1 5149:1``."""
    if not (real_data_dir / REAL / "frappe.validation.libfm.gz").is_file():
        pytest.skip(f"{REAL}/frappe.validation.libfm(.gz) absent from {real_data_dir}")
    folder = Path(load_splits("frappe", real_data_dir).folder)
    split = next(s for s in ("train", "val") if 0 in _column(folder, s, "row_ids"))
    row = int(np.flatnonzero(_column(folder, split, "row_ids") == 0)[0])
    raw = np.array([266, 1244, 5042, 5049, 5054, 5055, 5058, 5062, 5074, 5149])
    np.testing.assert_array_equal(_column(folder, split, "sparse")[row], raw - np.asarray(FIELD_STARTS))
    assert _column(folder, split, "labels")[row] == 1.0


def test_synthetic_published_split_keeps_the_files_apart(tmp_path: Path) -> None:
    write_frappe_libfm(tmp_path / REAL, {"train": 900, "validation": 300, "test": 200}, seed=1)
    splits = load_splits("frappe-bars", tmp_path, batch_size=64)
    assert splits.manifest["splits"] == {"train": 900, "val": 300, "test": 200}
    labels = np.concatenate([_column(splits.folder, s, "labels") for s in ("train", "val", "test")])
    assert set(np.unique(labels)) == {0.0, 1.0} and 0.2 < labels.mean() < 0.6


def _synthetic_lines(tmp_path: Path, rows: int = 400) -> list[bytes]:
    write_frappe_libfm(tmp_path / REAL, {"validation": rows, "test": 100}, seed=2)
    return (tmp_path / REAL / "frappe.validation.libfm").read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("edit, message", [
    (lambda line: b"0" + line[line.index(b" "):], "the label must be 1 or -1, not 0"),
    (lambda line: line.replace(b":1 ", b":2 ", 1), "token 1 (user) must be 'index:1'"),
    (lambda line: line.split(b" ")[0] + b" 5000:1 " + b" ".join(line.split(b" ")[2:]),
     "token 1 (user) has feature index 5000, outside the field's block [0, 957)"),
    (lambda line: line.rsplit(b" ", 1)[0] + b"\r\n", "it has 10 ' '-separated fields, expected 11"),
    (lambda line: b"yes" + line[line.index(b" "):], "field label must be 1 or -1, not 'yes'"),
])
def test_malformed_line_names_file_line_and_fix(tmp_path: Path, cache_dir: Path, edit, message: str) -> None:
    lines = _synthetic_lines(tmp_path)
    lines[122] = edit(lines[122])
    (tmp_path / REAL / "frappe.validation.libfm").write_bytes(b"".join(lines))
    with pytest.raises(BadLineError) as info:
        load_splits("frappe", tmp_path)
    text = str(info.value)
    assert "frappe.validation.libfm:123: malformed Frappe libfm line: " in text and message in text
    assert "--skip-bad-lines" in text
    assert not [p for p in cache_dir.rglob("*") if p.is_file()] if cache_dir.exists() else True


def test_skip_bad_lines_counts_them(tmp_path: Path) -> None:
    lines = _synthetic_lines(tmp_path)
    for i in (3, 150, 399):
        lines[i] = b"-1 12:1\r\n"
    (tmp_path / REAL / "frappe.validation.libfm").write_bytes(b"".join(lines))
    splits = load_splits("frappe", tmp_path, skip_bad_lines=True)
    assert splits.manifest["skipped_lines"] == 3 and splits.manifest["rows"] == 397 + 100
    assert splits.manifest["splits"] == {"train": 318, "val": 79, "test": 100}


def test_data_list_and_missing_file_message(tmp_path: Path) -> None:
    entry = registry.get_entry("frappe")
    assert registry.status(entry, tmp_path) == "absent"
    assert entry.raw_files() == ["frappe.validation.libfm", "frappe.test.libfm"]
    write_frappe_libfm(tmp_path / REAL, {"validation": 50}, seed=0)
    assert registry.status(entry, tmp_path) == "raw partly present"
    with pytest.raises(Exception, match="frappe.test.libfm") as info:
        load_splits("frappe", tmp_path)
    assert "repro data download frappe" in str(info.value)
    assert registry.status(registry.get_entry("frappe-bars"), tmp_path) == "raw partly present"


def test_download_enforces_the_official_checksums(tmp_path: Path, served: tuple[str, Path]) -> None:
    """A mirror serving other validation bytes is refused; the train file has no published digest."""
    url, root = served
    write_frappe_libfm(root, {"train": 20, "validation": 20, "test": 20}, seed=0)
    with pytest.raises(DataError, match="checksum mismatch for frappe.validation.libfm"):
        download_dataset(SPEC, tmp_path / "data", base_url=url)
    folder = tmp_path / "data" / REAL
    assert (folder / "frappe.train.libfm").is_file() and not (folder / "frappe.validation.libfm").exists()
