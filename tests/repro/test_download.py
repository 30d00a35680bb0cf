"""`repro data download` against a server on 127.0.0.1: checksum verified, renamed only when good."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from repro.cli import main
from harness.data.catalog import DatasetSpec, RawFile
from harness.data.download import download_dataset
from harness.errors import DataError


def spec_for(content: bytes, sha256: str | None) -> DatasetSpec:
    return DatasetSpec(id="toy", title="toy", folder="toy", homepage="http://example.invalid",
                       files=(RawFile(name="toy.csv.gz", url="http://example.invalid/toy.csv.gz", sha256=sha256),),
                       license="test")


def test_download_verifies_checksum_and_renames(served: tuple[str, Path], tmp_path: Path) -> None:
    base, root = served
    content = gzip.compress(b"a,b\n1,2\n")
    (root / "toy.csv.gz").write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    data_dir = tmp_path / "data"
    [result] = download_dataset(spec_for(content, digest), data_dir, base_url=base)
    assert result.verified and not result.skipped
    assert (data_dir / "toy" / "toy.csv.gz").read_bytes() == content
    [again] = download_dataset(spec_for(content, digest), data_dir, base_url=base)
    assert again.skipped


def test_checksum_mismatch_leaves_nothing(served: tuple[str, Path], tmp_path: Path) -> None:
    base, root = served
    (root / "toy.csv.gz").write_bytes(b"tampered")
    data_dir = tmp_path / "data"
    with pytest.raises(DataError, match="checksum mismatch"):
        download_dataset(spec_for(b"", "0" * 64), data_dir, base_url=base)
    assert not any((data_dir / "toy").iterdir())


def test_unreachable_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="could not download toy.csv.gz"):
        download_dataset(spec_for(b"", None), tmp_path, base_url="http://127.0.0.1:9")


def test_cli_downloads_census_from_a_local_mirror(served: tuple[str, Path], tmp_path: Path,
                                                  real_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, root = served
    official = real_data_dir / "census_income_kdd" / "census-income.test.gz"
    (root / "census-income.test.gz").write_bytes(official.read_bytes())
    (root / "census-income.data.gz").write_bytes(gzip.compress(b"stand-in training file\n"))
    data_dir = tmp_path / "data"
    code = main(["data", "download", "census-income-kdd", "--data-dir", str(data_dir), "--base-url", base])
    out = capsys.readouterr().out
    assert code == 0
    assert "checksum verified" in out and "no official checksum" in out
    assert (data_dir / "census_income_kdd" / "census-income.test.gz").read_bytes() == official.read_bytes()
