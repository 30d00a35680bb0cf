"""Download a dataset's official files: streamed, checksummed, renamed into place only when good.

A file is fetched to a temporary name beside its target, its sha256 computed on the way, and
renamed only if the digest matches the catalog's (where the catalog has one). A failed or
interrupted download leaves nothing behind. Progress goes to a callback as (bytes done, total).

**Archives.** Some datasets are published only as a zip (GroupLens MovieLens). Their catalog files
then have the URL ``<zip url>#<member path>`` (:func:`archive_member_url`). The zip is fetched once
into a temporary folder inside the dataset folder and checked against the MD5 digest its publisher
puts beside it (``<zip url>.md5``; GroupLens publishes MD5 only, no sha256, so MD5 is the official
digest: it detects corruption, not a malicious mirror). The extracted members with a sha256 in the
catalog are checked too. Only then is the archive's top-level folder renamed into the dataset
folder (one rename, so a reader sees all of it or nothing); the zip is not kept.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from harness.atomic import atomic_path
from harness.data.catalog import DatasetSpec, RawFile, sha256_of
from harness.errors import DataError

ProgressFn = Callable[[str, int, int | None], None]
_MD5 = re.compile(r"\b([0-9a-fA-F]{32})\b")


@dataclass(frozen=True)
class Downloaded:
    """One file as fetched: where it went, its digest, and whether the catalog could check it."""

    path: Path
    sha256: str
    verified: bool
    skipped: bool = False


def archive_member_url(zip_url: str, member: str) -> str:
    """The catalog URL of `member` (a path inside the zip) of the archive published at `zip_url`."""
    return f"{zip_url}#{member}"


def _split_member_url(url: str | None) -> tuple[str, str] | None:
    """(zip url, member path) if `url` names a member of a zip archive, else None."""
    if url is None or ".zip#" not in url:
        return None
    zip_url, member = url.split("#", 1)
    return zip_url, member


def _fetch(source: str, out: Path, name: str, progress: ProgressFn | None,
           timeout: float) -> tuple[str, str]:
    """Stream `source` into `out`; returns its (sha256, md5) hex digests."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with urllib.request.urlopen(source, timeout=timeout) as response, out.open("wb") as handle:
        total = int(response.headers.get("Content-Length") or 0) or None
        done = 0
        while block := response.read(1 << 20):
            handle.write(block)
            sha256.update(block)
            md5.update(block)
            done += len(block)
            if progress:
                progress(name, done, total)
    return sha256.hexdigest(), md5.hexdigest()


def _network_error(name: str, source: str, target: Path, exc: Exception) -> DataError:
    """The DataError for a download that could not be made."""
    return DataError(f"could not download {name} from {source}: {exc}. "
                     f"Check the network, or place the file by hand at {target}.")


def download_file(raw: RawFile, target: Path, url: str | None = None,
                  progress: ProgressFn | None = None, timeout: float = 60.0) -> Downloaded:
    """Fetch `raw` from `url` (default its official URL) to `target`, checking its sha256."""
    source = url or raw.url
    if source is None:
        raise DataError(f"{raw.name}: no public download URL; see the dataset's download note")
    try:
        with atomic_path(target) as tmp:
            got, _ = _fetch(source, tmp, raw.name, progress, timeout)
            if raw.sha256 and got != raw.sha256:
                raise DataError(f"{source}: checksum mismatch for {raw.name}: expected sha256 {raw.sha256}, "
                                f"got {got}. The download was discarded; try again, or fetch it by hand "
                                f"and check it against the official source.")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise _network_error(raw.name, source, target, exc) from exc
    return Downloaded(path=target, sha256=got, verified=raw.sha256 is not None)


def published_md5(source: str, timeout: float = 60.0) -> str:
    """The MD5 digest published beside an archive (``<source>.md5``, e.g. ``<hash>  ml-25m.zip``)."""
    try:
        with urllib.request.urlopen(f"{source}.md5", timeout=timeout) as response:
            text = response.read(4096).decode("ascii", errors="replace")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise DataError(f"could not fetch the published checksum {source}.md5: {exc}. Without it the archive "
                        f"cannot be verified; check the network, or download and check it by hand.") from exc
    match = _MD5.search(text)
    if match is None:
        raise DataError(f"{source}.md5 holds no MD5 digest ({text[:80]!r}); cannot verify the archive.")
    return match.group(1).lower()


def _safe_members(archive: zipfile.ZipFile, source: str) -> list[zipfile.ZipInfo]:
    """The archive's entries, refusing any that would land outside the extraction folder."""
    for info in archive.infolist():
        path = PurePosixPath(info.filename)
        if path.is_absolute() or ".." in path.parts:
            raise DataError(f"{source}: the archive entry {info.filename!r} points outside its folder; "
                            f"refusing to unpack it.")
    return archive.infolist()


def _replace_dir(staged: Path, target: Path, trash: Path) -> None:
    """Move `staged` to `target`, first moving an existing `target` into `trash` (removed later)."""
    if target.exists():
        os.replace(target, trash / f"old-{target.name}")
    os.replace(staged, target)


def download_archive(spec: DatasetSpec, data_dir: Path, zip_url: str, files: list[RawFile],
                     base_url: str | None = None, progress: ProgressFn | None = None,
                     timeout: float = 60.0) -> list[Downloaded]:
    """Fetch the zip at `zip_url`, verify it (published MD5) and its `files`, unpack it atomically."""
    name = zip_url.rsplit("/", 1)[-1]
    source = f"{base_url.rstrip('/')}/{name}" if base_url else zip_url
    folder = data_dir / spec.folder
    folder.mkdir(parents=True, exist_ok=True)
    expected = published_md5(source, timeout)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as staging:
        work = Path(staging)
        try:
            _, md5 = _fetch(source, work / name, name, progress, timeout)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise _network_error(name, source, folder / name, exc) from exc
        if md5 != expected:
            raise DataError(f"{source}: checksum mismatch: MD5 {md5}, the published {source}.md5 says {expected}. "
                            f"The download was discarded; try again.")
        unpacked = work / "unpacked"
        try:
            with zipfile.ZipFile(work / name) as archive:
                archive.extractall(unpacked, members=_safe_members(archive, source))
        except zipfile.BadZipFile as exc:
            raise DataError(f"{source}: not a readable zip archive ({exc}).") from exc
        results = []
        for raw in files:
            member = unpacked / raw.name
            if not member.is_file():
                raise DataError(f"{source}: the archive has no {raw.name}; it is not the expected release.")
            digest = sha256_of(member)
            if raw.sha256 and digest != raw.sha256:
                raise DataError(f"{source}: {raw.name} inside the archive has sha256 {digest}, the catalog says "
                                f"{raw.sha256}: not the official release. Nothing was unpacked.")
            results.append(Downloaded(path=folder / raw.name, sha256=digest, verified=True))
        for top in sorted(unpacked.iterdir()):
            _replace_dir(top, folder / top.name, work)
    return results


def _already_there(spec: DatasetSpec, data_dir: Path, raw: RawFile) -> Downloaded | None:
    """`raw` as already in place (matching its sha256 where the catalog has one), else None."""
    target = spec.path(data_dir, raw.name)
    if not target.is_file():
        return None
    digest = sha256_of(target)
    if raw.sha256 is not None and digest != raw.sha256:
        return None
    return Downloaded(path=target, sha256=digest, verified=raw.sha256 is not None, skipped=True)


def download_dataset(spec: DatasetSpec, data_dir: Path, base_url: str | None = None,
                     progress: ProgressFn | None = None) -> list[Downloaded]:
    """Fetch every official file of `spec` not already present and verified.

    `base_url` replaces the folder part of each official URL (a mirror, or a local test server).
    Files published inside a zip are fetched through their archive (see the module docstring).
    """
    if spec.download_note and all(f.url is None for f in spec.files):
        raise DataError(f"dataset '{spec.id}' cannot be downloaded automatically: {spec.download_note}")
    results = []
    archives: dict[str, list[RawFile]] = {}
    for raw in spec.files:
        member = _split_member_url(raw.url)
        if member is not None:
            archives.setdefault(member[0], []).append(raw)
            continue
        target = spec.path(data_dir, raw.name)
        if target.is_file() and raw.sha256 and sha256_of(target) == raw.sha256:
            results.append(Downloaded(path=target, sha256=raw.sha256, verified=True, skipped=True))
            continue
        url = f"{base_url.rstrip('/')}/{raw.name}" if base_url else None
        results.append(download_file(raw, target, url=url, progress=progress))
    for zip_url, files in archives.items():
        present = [_already_there(spec, data_dir, raw) for raw in files]
        done = [p for p in present if p is not None]
        if len(done) == len(files):
            results += done
        else:
            results += download_archive(spec, data_dir, zip_url, files, base_url=base_url, progress=progress)
    return results
