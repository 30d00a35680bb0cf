"""Download a dataset's official files: streamed, checksummed, renamed into place only when good.

A file is fetched to a temporary name beside its target, its sha256 computed on the way, and
renamed only if the digest matches the catalog's (where the catalog has one). A failed or
interrupted download leaves nothing behind. Progress goes to a callback as (bytes done, total).
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from repro.harness.atomic import atomic_path
from repro.harness.data.catalog import DatasetSpec, RawFile, sha256_of
from repro.harness.errors import DataError

ProgressFn = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class Downloaded:
    """One file as fetched: where it went, its digest, and whether the catalog could check it."""

    path: Path
    sha256: str
    verified: bool
    skipped: bool = False


def download_file(raw: RawFile, target: Path, url: str | None = None,
                  progress: ProgressFn | None = None, timeout: float = 60.0) -> Downloaded:
    """Fetch `raw` from `url` (default its official URL) to `target`, checking its sha256."""
    source = url or raw.url
    if source is None:
        raise DataError(f"{raw.name}: no public download URL; see the dataset's download note")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(source, timeout=timeout) as response, atomic_path(target) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            with tmp.open("wb") as out:
                while block := response.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress:
                        progress(raw.name, done, total)
            got = digest.hexdigest()
            if raw.sha256 and got != raw.sha256:
                raise DataError(f"{source}: checksum mismatch for {raw.name}: expected sha256 {raw.sha256}, "
                                f"got {got}. The download was discarded; try again, or fetch it by hand "
                                f"and check it against the official source.")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise DataError(f"could not download {raw.name} from {source}: {exc}. "
                        f"Check the network, or place the file by hand at {target}.") from exc
    return Downloaded(path=target, sha256=got, verified=raw.sha256 is not None)


def download_dataset(spec: DatasetSpec, data_dir: Path, base_url: str | None = None,
                     progress: ProgressFn | None = None) -> list[Downloaded]:
    """Fetch every official file of `spec` not already present and verified.

    `base_url` replaces the folder part of each official URL (a mirror, or a local test server).
    """
    if spec.download_note and all(f.url is None for f in spec.files):
        raise DataError(f"dataset '{spec.id}' cannot be downloaded automatically: {spec.download_note}")
    results = []
    for raw in spec.files:
        target = spec.path(data_dir, raw.name)
        if target.is_file() and raw.sha256 and sha256_of(target) == raw.sha256:
            results.append(Downloaded(path=target, sha256=raw.sha256, verified=True, skipped=True))
            continue
        url = f"{base_url.rstrip('/')}/{raw.name}" if base_url else None
        results.append(download_file(raw, target, url=url, progress=progress))
    return results
