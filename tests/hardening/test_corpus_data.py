"""Data cases: Criteo lines longer than any block, unreadable files, folders for files, huge census lines."""

from __future__ import annotations

import errno
import gzip
from pathlib import Path

import numpy as np
import pytest

GOOD = ("0\t1\t1\t5\t0\t1382\t4\t15\t2\t181\t1\t2\t\t2\t68fd1e64\t80e26c9b\tfb936136\t7b4723c4\t25c83c98\t"
        "7e0ccccf\tde7995b8\t1f89b562\ta73ee510\ta8cd5504\tb2cb9c98\t37c9c164\t2824a5f6\t1adce6ef\t8ba8b39a\t"
        "891b62e7\te5ba7672\tf54016b9\t21ddcdc9\tb1252a9d\t07b5194c\t\t3a171ecb\tc5c50484\t\t\n")
LONG = 2 << 20  # longer than pyarrow's 1 MiB read block


def criteo_dir(root: Path, ok: bool = False, bad_line: str | None = None, at: int = 150) -> Path:
    """A data folder whose criteo_dac/train.txt has 600 good lines (one replaced by `bad_line`)."""
    rng = np.random.default_rng(0)
    lines = [f"{int(rng.random() < 0.5)}{GOOD[1:]}" for _ in range(600)]
    if bad_line is not None and not ok:
        lines[at] = bad_line
    folder = root / "data" / "criteo_dac"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text("".join(lines))
    return root / "data"


def _long_criteo_line() -> str:
    fields = GOOD.rstrip("\n").split("\t")
    fields[20] = "a" * LONG
    return "\t".join(fields) + "\n"


@pytest.fixture(autouse=True)
def cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("REPRO_CACHE_DIR", str(cache))
    return cache


def deny_open(monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
    """Make opening `target` fail as an unreadable file does (PermissionError), every other path unchanged."""
    original = Path.open

    def denied(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)

@pytest.mark.corpus("traceback")
def test_criteo_line_longer_than_a_block_is_a_named_bad_line(cli, tmp_path):
    data = criteo_dir(tmp_path, bad_line=_long_criteo_line())
    out = cli("data", "prepare", "criteo-kaggle-dlrm", "--data-dir", str(data), clean=[tmp_path], max_lines=4)
    assert "train.txt:151" in out.err and "cat_6 must be 8 hex digits" in out.err
    assert len(out.err) < 2000


@pytest.mark.corpus("traceback")
def test_criteo_long_line_is_skipped_with_skip_bad_lines(cli, tmp_path):
    data = criteo_dir(tmp_path, bad_line=_long_criteo_line())
    out = cli("data", "prepare", "criteo-kaggle-dlrm", "--data-dir", str(data), "--skip-bad-lines", code=0,
              clean=[tmp_path])
    assert '"skipped_lines": 1' in out.out or '"bad_lines": 1' in out.out or "1" in out.out


@pytest.mark.corpus("leftover")
def test_run_on_a_criteo_file_with_a_long_line_leaves_no_partial(cli, tmp_path):
    data = criteo_dir(tmp_path, bad_line=_long_criteo_line())
    out = cli("run", "dlrm", "--data-dir", str(data), "--results", str(tmp_path / "results"), "--no-figures",
              clean=[tmp_path], max_lines=6)
    assert "train.txt:151" in out.err and "nothing was kept" in out.err
    assert not list((tmp_path / "results" / "dlrm").iterdir())


@pytest.mark.corpus("traceback")
def test_unreadable_criteo_file_is_permission_not_corruption(cli, tmp_path, monkeypatch):
    data = criteo_dir(tmp_path, ok=True)
    target = data / "criteo_dac" / "train.txt"
    deny_open(monkeypatch, target)
    out = cli("data", "prepare", "criteo-kaggle-dlrm", "--data-dir", str(data), clean=[tmp_path])
    assert "permission denied" in out.err and "not damaged" in out.err and "corrupt" not in out.err


@pytest.mark.corpus("weak")
def test_a_folder_where_the_criteo_file_should_be(cli, tmp_path):
    (tmp_path / "data" / "criteo_dac" / "train.txt").mkdir(parents=True)
    out = cli("data", "prepare", "criteo-kaggle-dlrm", "--data-dir", str(tmp_path / "data"), clean=[tmp_path])
    assert "is a folder, but a file is expected" in out.err and "missing" not in out.err


# ------------------------------------------------------------------ census

CENSUS_LINE = ("73, Not in universe, 0, 0, High school graduate, 0, Not in universe, Widowed, Not in universe or "
               "children, Not in universe, White, All other, Female, Not in universe, Not in universe, Not in labor "
               "force, 0, 0, 0, Nonfiler, Not in universe, Not in universe, Other Rel 18+ ever marr not in subfamily, "
               "Other relative of householder, 1700.09, ?, ?, ?, Not in universe under 1 year old, ?, 0, Not in "
               "universe, United-States, United-States, United-States, Native- Born in the United States, 0, Not in "
               "universe, 2, 0, 95, - 50000.\n")


def census_dir(root: Path, body: bytes) -> Path:
    folder = root / "data" / "census_income_kdd"
    folder.mkdir(parents=True)
    (folder / "census-income.test.gz").write_bytes(gzip.compress(body))
    return root / "data"


def _adatt(cli, data: Path, tmp_path: Path, **kw):  # type: ignore[no-untyped-def]
    return cli("run", "adatt", "--data-dir", str(data), "--results", str(tmp_path / "results"), "--no-figures",
               clean=[tmp_path], max_lines=8, **kw)


@pytest.mark.corpus("weak")
def test_census_error_quotes_a_bounded_excerpt_of_a_huge_line(cli, tmp_path):
    huge = CENSUS_LINE.replace("Widowed", "W" * (30 << 20), 1)
    data = census_dir(tmp_path, (CENSUS_LINE * 50 + huge + CENSUS_LINE * 50).encode())
    out = _adatt(cli, data, tmp_path)
    assert "line 51" in out.err and "unknown value" in out.err
    assert len(out.err) < 3000


@pytest.mark.corpus("weak")
def test_unreadable_census_file_is_not_called_corrupt(cli, tmp_path, monkeypatch):
    data = census_dir(tmp_path, (CENSUS_LINE * 20).encode())
    target = data / "census_income_kdd" / "census-income.test.gz"
    deny_open(monkeypatch, target)
    out = _adatt(cli, data, tmp_path)
    assert "permission denied" in out.err and "do not delete it" in out.err
    assert "corrupt" not in out.err and "download it again" not in out.err


@pytest.mark.corpus("weak")
def test_a_folder_where_the_census_file_should_be(cli, tmp_path):
    (tmp_path / "data" / "census_income_kdd" / "census-income.test.gz").mkdir(parents=True)
    out = _adatt(cli, tmp_path / "data", tmp_path)
    assert "is a folder" in out.err


@pytest.mark.corpus("bad-input")
def test_truncated_census_gzip(cli, tmp_path):
    data = census_dir(tmp_path, (CENSUS_LINE * 2000).encode())
    path = data / "census_income_kdd" / "census-income.test.gz"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    out = _adatt(cli, data, tmp_path)
    assert "truncated or corrupt" in out.err


@pytest.mark.corpus("bad-input")
@pytest.mark.parametrize("bad_line, message", [
    ("0\t1\t2\n", "3 tab-separated fields"),
    (GOOD.replace("\n", "\r\n"), "carriage return"),
    ("2" + GOOD[1:], "label (first field) must be 0 or 1"),
    (GOOD.replace("68fd1e64", "68fd1e6z"), "8 hex digits"),
])
def test_criteo_bad_lines_through_the_cli(cli, tmp_path, bad_line, message):
    data = criteo_dir(tmp_path, bad_line=bad_line)
    out = cli("data", "prepare", "criteo-kaggle-dlrm", "--data-dir", str(data), clean=[tmp_path], max_lines=4)
    assert "train.txt:151" in out.err and message in out.err


@pytest.mark.corpus("bad-input")
def test_missing_dataset_names_the_files_and_the_fix(cli, tmp_path):
    out = cli("run", "adatt", "--data-dir", str(tmp_path), "--results", str(tmp_path / "results"), clean=[tmp_path],
              max_lines=8)
    assert "census-income.test.gz" in out.err and "nothing was kept" in out.err
