"""`repro data download` of zip-published datasets (MovieLens) from a local mirror on 127.0.0.1."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from repro.cli import main
from harness.data import registry
from harness.data.download import download_dataset
from harness.data.synthetic import write_movielens
from harness.errors import DataError


def _publish(root: Path, name: str, folder: Path, md5_style: str = "gnu", md5: str | None = None) -> bytes:
    """Zip `folder` (as its top-level entry) into `root/name` with a GroupLens-style ``.md5`` beside it."""
    with zipfile.ZipFile(root / name, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(folder.parent).as_posix())
    content = (root / name).read_bytes()
    digest = md5 or hashlib.md5(content).hexdigest()
    line = f"{digest}  {name}\n" if md5_style == "gnu" else f"MD5 ({name}) = {digest}\n"
    (root / f"{name}.md5").write_text(line)
    return content


@pytest.mark.slow
def test_real_100k_zip_is_verified_unpacked_and_prepared(served: tuple[str, Path], tmp_path: Path,
                                                        real_data_dir: Path) -> None:
    official = real_data_dir / "movielens_100k" / "ml-100k"
    if not (official / "u.data").is_file():
        pytest.skip("movielens_100k/ml-100k absent")
    base, root = served
    _publish(root, "ml-100k.zip", official)
    data_dir = tmp_path / "data"
    spec = registry.get_entry("movielens-100k").spec
    results = download_dataset(spec, data_dir, base_url=base)
    assert [r.verified and not r.skipped for r in results] == [True, True, True]  # member sha256s match the catalog
    assert (data_dir / "movielens_100k" / "ml-100k" / "u.data").read_bytes() == (official / "u.data").read_bytes()
    assert not [p for p in (data_dir / "movielens_100k").iterdir() if p.name.startswith(".")]  # no staging left
    assert all(r.skipped for r in download_dataset(spec, data_dir, base_url=base))
    assert registry.status(registry.get_entry("movielens-100k"), data_dir) == "raw present"


def test_cli_downloads_a_csv_release(served: tuple[str, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    base, root = served
    write_movielens(tmp_path / "src", "latest", rows=500, seed=2)
    _publish(root, "ml-latest.zip", tmp_path / "src" / "ml-latest", md5_style="bsd")
    data_dir = tmp_path / "data"
    code = main(["data", "download", "movielens-latest", "--data-dir", str(data_dir), "--base-url", base])
    assert code == 0, capsys.readouterr()
    assert (data_dir / "movielens_latest" / "ml-latest" / "ratings.csv").is_file()
    manifest = registry.prepare(registry.get_entry("movielens-latest-ctr"), data_dir)
    assert manifest["rows"] == 500


def test_checksum_mismatch_and_unsafe_archives_leave_nothing(served: tuple[str, Path], tmp_path: Path) -> None:
    base, root = served
    write_movielens(tmp_path / "src", "20m", rows=200, seed=3)
    spec = registry.get_entry("movielens-20m").spec
    data_dir = tmp_path / "data"
    _publish(root, "ml-20m.zip", tmp_path / "src" / "ml-20m", md5="0" * 32)
    with pytest.raises(DataError, match="checksum mismatch: MD5"):
        download_dataset(spec, data_dir, base_url=base)
    assert not list((data_dir / "movielens_20m").iterdir())
    with zipfile.ZipFile(root / "ml-20m.zip", "w") as archive:
        archive.writestr("../escape.txt", "x")
    (root / "ml-20m.zip.md5").write_text(hashlib.md5((root / "ml-20m.zip").read_bytes()).hexdigest())
    with pytest.raises(DataError, match="points outside its folder"):
        download_dataset(spec, data_dir, base_url=base)
    assert not (tmp_path / "data" / "escape.txt").exists() and not list((data_dir / "movielens_20m").iterdir())
    (root / "ml-20m.zip.md5").unlink()
    with pytest.raises(DataError, match="published checksum"):
        download_dataset(spec, data_dir, base_url=base)
