"""The dataset catalog: each dataset's official files, where they come from and how to check them.

A :class:`DatasetSpec` names the folder inside the data directory, the official files with their
source URL, sha256 and row count where known, and what a user must do when a file cannot be
downloaded automatically (Kaggle needs the user's own credentials). ``repro data list`` /
``download`` / ``verify`` and ``repro doctor`` read this catalog; loaders call
:meth:`DatasetSpec.require` to fail early with a message naming the files, the URL and the checksum.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from harness.data.access import check_readable_file, folder_not_file
from harness.errors import DataError


@dataclass(frozen=True)
class RawFile:
    """One official file of a dataset.

    `sha256` is of the file as downloaded (None where no trusted checksum is published or known:
    the download then records the digest it saw, and says so). `rows` counts data lines.
    `alternatives` are other accepted names for a real sample of the file (e.g. a head of it).
    """

    name: str
    url: str | None
    sha256: str | None = None
    rows: int | None = None
    size: int | None = None
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset as published: its folder in the data directory and its official files."""

    id: str
    title: str
    folder: str
    homepage: str
    files: tuple[RawFile, ...]
    license: str
    download_note: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def path(self, data_dir: Path, name: str) -> Path:
        """Where file `name` of this dataset lives under `data_dir`."""
        return data_dir / self.folder / name

    def find(self, data_dir: Path, raw: RawFile) -> Path | None:
        """The present copy of `raw` (official name first, then its accepted alternatives)."""
        for name in (raw.name, *raw.alternatives):
            candidate = self.path(data_dir, name)
            if candidate.is_file():
                return candidate
        return None

    def require(self, data_dir: Path, names: list[str] | None = None) -> dict[str, Path]:
        """Paths of the official files in `names` (default all); a :class:`DataError` if any is missing."""
        wanted = [f for f in self.files if names is None or f.name in names]
        found: dict[str, Path] = {}
        missing = []
        for raw in wanted:
            path = self.find(data_dir, raw)
            if path is None:
                for name in (raw.name, *raw.alternatives):
                    if self.path(data_dir, name).is_dir():
                        raise folder_not_file(self.path(data_dir, name))
                missing.append(raw)
            else:
                found[raw.name] = path
        if missing:
            lines = [f"dataset '{self.id}' is missing from {data_dir / self.folder}:"]
            for raw in missing:
                checksum = f"sha256 {raw.sha256}" if raw.sha256 else "no published checksum"
                lines.append(f"  - {raw.name} (from {raw.url or self.homepage}; {checksum})")
            fix = self.download_note or f"`repro data download {self.id}` fetches it"
            lines.append(f"Fix: {fix}, or point --data-dir / $REPRO_DATA_DIR at a folder that holds {self.folder}/.")
            raise DataError("\n".join(lines))
        return found


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    check_readable_file(path)
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_gzip(path: Path) -> None:
    """Read a gzip file to its end; a :class:`DataError` naming the file if it is truncated or corrupt."""
    check_readable_file(path)
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except (EOFError, OSError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: the gzip file is truncated or corrupt ({exc}). "
                        f"Delete it and download it again (`repro data download`).") from exc
