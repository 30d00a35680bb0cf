"""The Census-Income loader: the real shared files, every bad-file error path, protocols, no label leakage."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.data import census
from harness.data.census import (FALLBACK_PROTOCOL, LABEL_SOURCES, PAPER_PROTOCOL, FeatureEncoder,
                                       load_census, read_census_file)
from harness.data.census_synthetic import synthetic_rows, write_synthetic_census
from harness.errors import DataError

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("REPRO_DATA_DIR", REPO.parent / "shared" / "datasets"))
REAL_TEST = DATA_DIR / census.SPEC.folder / census.TEST_FILE.name


def _write(path: Path, lines: list[str], compress: bool = True) -> Path:
    text = ("\n".join(lines) + "\n").encode("ascii")
    path.write_bytes(gzip.compress(text) if compress else text)
    return path


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def real() -> census.CensusData:
    if not REAL_TEST.is_file():
        pytest.skip(f"real census file absent: {REAL_TEST}")
    return load_census(DATA_DIR)


@pytest.mark.slow
def test_real_test_file_rows_and_label_rate(real: census.CensusData) -> None:
    test_file = next(f for f in real.manifest["files"] if f["name"] == census.TEST_FILE.name)
    assert test_file["rows"] == 99_762 and test_file["checksum_ok"] is True
    from_test_file = ("val", "test") if real.protocol == PAPER_PROTOCOL else ("train", "val", "test")
    labels = np.concatenate([real.labels[s] for s in from_test_file])
    assert len(labels) == 99_762
    assert round(100 * labels[:, 0].mean(), 2) == 6.20
    assert int(labels[:, 2].sum()) == 9_885 + 3_306 + 620  # MMoEEx education: BA + MA + PhD


@pytest.mark.slow
def test_real_data_protocol_is_announced_and_recorded(real: census.CensusData) -> None:
    manifest = real.manifest
    if not (DATA_DIR / census.SPEC.folder / census.TRAIN_FILE.name).is_file():
        assert real.protocol == manifest["protocol"] == FALLBACK_PROTOCOL
        assert manifest["paper_protocol"] is False
        assert any("NOT the paper's protocol" in note for note in real.notes)
        assert sum(manifest["split_sizes"].values()) == 99_762
    assert set(manifest["label_rates"]) == {"train", "val", "test"}


@pytest.mark.slow
def test_no_label_column_among_features(real: census.CensusData) -> None:
    sources = (*LABEL_SOURCES, census.INSTANCE_WEIGHT)
    assert not [n for n in real.feature_names if n.split("=")[0] in sources]
    x, y = real.features["train"], real.labels["train"]
    for t in range(y.shape[1]):  # no feature column reproduces a label
        assert not (x == y[:, [t]]).all(axis=0).any()


def test_features_are_aligned_across_splits_and_fit_on_train() -> None:
    rows = synthetic_rows(300, seed=3)
    frame = pd.DataFrame([r.split(", ") for r in rows], columns=list(census.COLUMNS))
    encoder = FeatureEncoder.fit(frame.iloc[:200])
    unseen = frame.iloc[200:].copy()
    unseen["race"] = "Martian"  # a category absent from training encodes as all zeros, columns unchanged
    out = encoder.transform(unseen)
    assert out.shape[1] == len(encoder.feature_names)
    race = [i for i, n in enumerate(encoder.feature_names) if n.startswith("race=")]
    assert out[:, race].sum() == 0
    assert encoder.transform(frame.iloc[:200])[:, :len(census.CONTINUOUS)].min() >= 0


def test_paper_protocol_with_full_training_file(tmp_path: Path) -> None:
    write_synthetic_census(tmp_path, train_rows=400, test_rows=200)
    data = load_census(tmp_path, official=False)
    assert data.protocol == PAPER_PROTOCOL and not data.notes
    assert data.manifest["split_sizes"] == {"train": 400, "val": 100, "test": 100}
    assert {f["name"] for f in data.manifest["files"]} == {census.TRAIN_FILE.name, census.TEST_FILE.name}


def test_fallback_protocol_without_training_file_and_with_head_only(tmp_path: Path) -> None:
    folder = write_synthetic_census(tmp_path, train_rows=None, test_rows=400)
    data = load_census(tmp_path, official=False)
    assert data.protocol == FALLBACK_PROTOCOL
    assert data.manifest["split_sizes"] == {"train": 200, "val": 100, "test": 100}
    assert "absent" in data.notes[0] and "NOT the paper's protocol" in data.notes[0]
    _write(folder / "census-income.data.head1891", synthetic_rows(50, seed=9), compress=False)
    data = load_census(tmp_path, official=False)
    assert data.protocol == FALLBACK_PROTOCOL and "head sample" in data.notes[0]


def test_official_names_must_have_official_row_counts(tmp_path: Path) -> None:
    write_synthetic_census(tmp_path, train_rows=None, test_rows=300)
    with pytest.raises(DataError, match="300 rows, but the official census-income.test.gz has 99,762"):
        load_census(tmp_path)


@pytest.mark.parametrize("case", ["truncated", "41 fields", "43 fields", "unknown label", "empty field",
                                  "not a number", "empty", "empty gzip", "missing"])
def test_bad_file_gives_clear_error_and_leaves_nothing(tmp_path: Path, case: str) -> None:
    rows = synthetic_rows(60, seed=1)
    path = tmp_path / "census-income.test.gz"
    if case == "truncated":
        blob = gzip.compress(("\n".join(rows) + "\n").encode())
        path.write_bytes(blob[: len(blob) // 2])
        expected = ["truncated or corrupt", "breaks off after line"]
    elif case == "41 fields":
        fields = rows[4].split(", ")
        rows[4] = ", ".join(fields[:20] + fields[21:])
        _write(path, rows)
        expected = ["line 5", "41 fields, expected 42"]
    elif case == "43 fields":
        rows[6] = rows[6] + ", extra"
        _write(path, rows)
        expected = ["line 7", "43 fields, expected 42"]
    elif case == "unknown label":
        rows[2] = rows[2].rsplit(", ", 1)[0] + ", 50000-."
        _write(path, rows)
        expected = ["line 3", "unknown value '50000-.' in field 42 (income_50k)", "'- 50000.' or '50000+.'"]
    elif case == "empty field":
        fields = rows[9].split(", ")
        fields[12] = ""
        rows[9] = ", ".join(fields)
        _write(path, rows)
        expected = ["line 10", "field 13 (sex) is empty"]
    elif case == "not a number":
        rows[1] = "old" + rows[1][rows[1].index(","):]
        _write(path, rows)
        expected = ["line 2", "field 1 (age) is 'old', not a number"]
    elif case == "empty":
        path.write_bytes(b"")
        expected = ["is empty"]
    elif case == "empty gzip":
        path.write_bytes(gzip.compress(b""))
        expected = ["is empty"]
    else:
        path = tmp_path / "nowhere" / "census-income.test.gz"
        expected = ["file not found", "repro data download census-income-kdd"]
    before = _listing(tmp_path)
    with pytest.raises(DataError) as info:
        read_census_file(path)
    message = str(info.value)
    assert str(path) in message
    for text in expected:
        assert text in message
    assert "Fix:" in message or "fix" in message.lower()
    assert _listing(tmp_path) == before  # nothing partial written


def test_missing_dataset_names_files_url_and_checksum(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_census(tmp_path)
    message = str(info.value)
    assert census.TEST_FILE.name in message and census.TEST_FILE.url in message
    assert census.TEST_FILE.sha256 in message
    assert _listing(tmp_path) == []


def test_mmoeex_eval_encoding_moves_the_missing_category_to_the_end() -> None:
    """The official test file lacks det_hh_fam_stat = "Grandchild <18 ever marr not in subfamily"; MMoEEx appends
    its column at the end, so every evaluation column after its place feeds its left neighbour's weights.
    Training layout here: continuous (8), then det_hh_fam_stat = {G, x} (G sorted first, a zero column), then
    the later categoricals; the evaluation row's x lands on G's weights; min-max uses the evaluation rows'
    own range (age 2 and 4 -> 0 and 1; with the training range [0, 10] it would be 0.2 and 0.4)."""
    import pandas as pd

    from harness.data import census

    column, missing = census.MMOEEX_MISSING_CATEGORY
    train = pd.DataFrame({c: ["x"] * 3 for c in census.COLUMNS})
    for c in census.CONTINUOUS:
        train[c] = ["0", "5", "10"]
    source = train.iloc[[0, 2]].copy()
    source["age"] = ["2", "4"]
    encoder = census.FeatureEncoder.fit(train)
    widened, encode_eval, shifted = census.mmoeex_encoders(encoder, source)
    names = widened.feature_names
    g = names.index(f"{column}={missing}")
    assert names[g + 1] == f"{column}=x" and shifted == len(names) - g
    trained = widened.transform(train)
    assert trained[:, g].sum() == 0 and trained[0, g + 1] == 1.0
    out = encode_eval(source)
    assert out.shape == trained[:2].shape
    assert out[0, g] == 1.0 and out[0, -1] == 0.0  # x now sits where training had G; G's zero column last
    assert out[:, census.CONTINUOUS.index("age")].tolist() == [0.0, 1.0]
