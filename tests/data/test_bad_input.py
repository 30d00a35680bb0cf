"""Bad input: each malformed file gives a clear error and leaves nothing behind."""

from __future__ import annotations

import dataclasses
import errno
import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from harness.data import pipeline, registry
from harness.data.cache import cache_folder, load_npy
from harness.data.criteo import kaggle_dlrm_job
from harness.data.delimited import BadLineError
from harness.errors import DataError

GOOD = ("0\t1\t1\t5\t0\t1382\t4\t15\t2\t181\t1\t2\t\t2\t68fd1e64\t80e26c9b\tfb936136\t7b4723c4\t25c83c98\t"
        "7e0ccccf\tde7995b8\t1f89b562\ta73ee510\ta8cd5504\tb2cb9c98\t37c9c164\t2824a5f6\t1adce6ef\t8ba8b39a\t"
        "891b62e7\te5ba7672\tf54016b9\t21ddcdc9\tb1252a9d\t07b5194c\t\t3a171ecb\tc5c50484\t\t\n")
ENTRY = registry.get_entry("criteo-kaggle-dlrm")


def criteo_data_dir(root: Path, lines: bytes | str) -> Path:
    """A data directory whose criteo_dac/train.txt holds `lines`."""
    folder = root / "data" / "criteo_dac"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_bytes(lines.encode() if isinstance(lines, str) else lines)
    return root / "data"


def _lines(n: int, seed: int = 0) -> list[str]:
    """`n` good lines with varied labels (so that no split has a constant label)."""
    rng = np.random.default_rng(seed)
    return [f"{int(rng.random() < 0.5)}{GOOD[1:]}" for _ in range(n)]


def _prepare(data_dir: Path, **kwargs) -> dict:
    return registry.prepare(ENTRY, data_dir, **kwargs)


def _assert_nothing_left(cache_dir: Path) -> None:
    leftovers = [p for p in cache_dir.rglob("*")] if cache_dir.exists() else []
    assert not [p for p in leftovers if p.is_file()], leftovers


@pytest.mark.parametrize("bad_line, message", [
    ("0\t1\t2\n", "3 tab-separated fields, expected 37-40"),
    (GOOD.replace("68fd1e64", "68fd1e6z"), "field cat_0 must be 8 hex digits"),
    (GOOD.replace("\t1382\t", "\t13.5\t"), "field int_4 must be an integer count or empty, not '13.5'"),
    (GOOD.replace("\t", ","), "is the file tab-separated"),
    (GOOD.replace("\n", "\r\n"), "carriage return"),
    ("2" + GOOD[1:], "label (first field) must be 0 or 1"),
    ("\n", "the line is empty"),
])
def test_malformed_line_names_file_line_and_text(tmp_path: Path, cache_dir: Path, bad_line: str, message: str) -> None:
    lines = _lines(300)
    lines[123] = bad_line
    data_dir = criteo_data_dir(tmp_path, "".join(lines))
    with pytest.raises(BadLineError) as info:
        _prepare(data_dir)
    text = str(info.value)
    assert f"train.txt:124: malformed Criteo TSV line: " in text and message in text
    assert "--skip-bad-lines" in text and "text: " in text
    _assert_nothing_left(cache_dir)


def test_skip_bad_lines_counts_them(tmp_path: Path) -> None:
    lines = _lines(400)
    for i in (5, 77, 300):
        lines[i] = GOOD.replace("68fd1e64", "nothex!!")
    data_dir = criteo_data_dir(tmp_path, "".join(lines))
    manifest = _prepare(data_dir, skip_bad_lines=True)
    assert manifest["skipped_lines"] == 3 and manifest["rows"] == 397
    assert manifest["sources"][0]["skipped_lines"] == 3


def test_stripped_trailing_fields_are_read_as_empty(tmp_path: Path) -> None:
    full = _lines(300)
    stripped = [line.rstrip("\n").rstrip("\t") + "\n" for line in full]  # 37 fields: C24..C26 empty
    assert stripped[0].count("\t") == 37  # 38 fields: C25, C26 were empty
    a = _prepare(criteo_data_dir(tmp_path / "a", "".join(full)))
    b = _prepare(criteo_data_dir(tmp_path / "b", "".join(stripped)))
    assert b["padded_lines"] == 300 and a["padded_lines"] == 0
    for split in ("train", "val", "test"):
        for name in ("labels", "dense", "sparse"):
            np.testing.assert_array_equal(load_npy(Path(a["folder"]) / split / f"{name}.npy"),
                                          load_npy(Path(b["folder"]) / split / f"{name}.npy"))


def test_truncated_gzip(tmp_path: Path, cache_dir: Path) -> None:
    folder = tmp_path / "data" / "criteo_dac"
    folder.mkdir(parents=True)
    payload = gzip.compress("".join(_lines(3000)).encode())
    (folder / "train.txt.gz").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataError, match="gzip stream is truncated"):
        _prepare(tmp_path / "data")
    _assert_nothing_left(cache_dir)


def test_gzip_input_is_read_directly(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "criteo_dac"
    folder.mkdir(parents=True)
    (folder / "train.txt.gz").write_bytes(gzip.compress("".join(_lines(500)).encode()))
    assert _prepare(tmp_path / "data")["rows"] == 500


def test_empty_and_missing_files_and_wrong_layout(tmp_path: Path, cache_dir: Path) -> None:
    with pytest.raises(DataError, match="empty"):
        _prepare(criteo_data_dir(tmp_path / "e", ""))
    with pytest.raises(DataError, match="is missing from"):
        _prepare(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "data.tsv").write_text(GOOD)
    with pytest.raises(DataError, match="expects the layout"):
        _prepare(tmp_path, raw=tmp_path / "flat")
    _assert_nothing_left(cache_dir)


def test_full_disk_leaves_nothing(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(DataError, match="disk is full"):
        _prepare(criteo_data_dir(tmp_path, "".join(_lines(300))))
    _assert_nothing_left(cache_dir)


class Killed(Exception):
    """Stands for the process being killed mid-run."""


def test_interrupted_run_resumes_after_last_chunk(tmp_path: Path, criteo_file: Path) -> None:
    job = dataclasses.replace(kaggle_dlrm_job([criteo_file]), block_bytes=1 << 20)
    reference = pipeline.run(job, tmp_path / "ref")
    starts: list[int] = []

    def parse(block, path, skip, die_at=None):
        starts.append(block.start)
        if len(starts) == die_at:
            raise Killed
        return job.parse(block, path, skip)

    folder = cache_folder(tmp_path / "cache", "x", {})
    with pytest.raises(Killed):
        pipeline.run(dataclasses.replace(job, parse=lambda b, p, s: parse(b, p, s, die_at=3)), folder)
    assert len(list((folder / "chunks").glob("*.done.json"))) == 2
    first_run = list(starts)
    starts.clear()
    resumed = pipeline.run(dataclasses.replace(job, parse=parse), folder)
    assert starts[0] == first_run[2]  # resumed at the block that was being parsed when killed
    assert resumed["splits"] == reference["splits"] and resumed["rows"] == reference["rows"]
    for name in ("train/sparse.npy", "test/dense.npy", "val/labels.npy"):
        np.testing.assert_array_equal(load_npy(folder / name), load_npy(tmp_path / "ref" / name))
    assert not (folder / "chunks").exists()


def test_resumed_run_removes_temporary_arrays_of_a_killed_run(tmp_path: Path, criteo_file: Path) -> None:
    """``kill -9`` in pass 2 leaves the half-written arrays' temporary files; the next run removes them."""
    job = kaggle_dlrm_job([criteo_file])
    folder = cache_folder(tmp_path / "cache", "x", {})
    (folder / "train").mkdir(parents=True)
    stale = [folder / "train" / ".sparse.npy.k1ll3d.tmp", folder / "train" / ".labels.npy.k1ll3d.tmp"]
    for path in stale:
        path.write_bytes(b"\0" * 4096)
    unrelated = folder / "train" / ".notes.k1ll3d.tmp"
    unrelated.write_bytes(b"kept")
    pipeline.run(job, folder)
    assert not any(path.exists() for path in stale)
    assert unrelated.exists(), "only the temporaries of the arrays being written are removed"
    assert not list(folder.rglob(".*.npy.*.tmp"))
