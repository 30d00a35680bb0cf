"""Every dataset id the suite knows, and the operations ``repro data …`` runs on them.

A dataset id names a dataset *and its protocol* (e.g. the facebookresearch/dlrm split of Criteo
Kaggle). Each entry pairs the :class:`~repro.harness.data.catalog.DatasetSpec` of the raw files
with optional prepare/verify steps that build and check a cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from repro.harness.data import census
from repro.harness.data.catalog import DatasetSpec, check_gzip, sha256_of
from repro.harness.errors import UserError


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset id: its raw files, and how to prepare and verify its cache (if it has one)."""

    id: str
    spec: DatasetSpec
    description: str
    prepare: Callable[..., dict[str, Any]] | None = None
    verify: Callable[..., dict[str, Any]] | None = None


def _verify_raw(entry: DatasetEntry, data_dir: Path) -> dict[str, Any]:
    """Check the raw files that are present: gzip integrity and sha256 where the catalog has one."""
    report: dict[str, Any] = {"files": []}
    for raw in entry.spec.files:
        path = entry.spec.find(data_dir, raw)
        if path is None:
            report["files"].append({"name": raw.name, "present": False})
            continue
        if path.suffix == ".gz":
            check_gzip(path)
        digest = sha256_of(path)
        official = path.name == raw.name
        ok = None if not (raw.sha256 and official) else digest == raw.sha256
        if ok is False:
            raise UserError(f"{path}: sha256 {digest} differs from the official {raw.sha256}; "
                            f"the file is corrupt or not the official one. Delete it and run "
                            f"`repro data download {entry.id}`.")
        report["files"].append({"name": raw.name, "present": True, "path": str(path), "sha256": digest,
                                "checksum_ok": ok, "official_name": official})
    return report


ENTRIES: dict[str, DatasetEntry] = {
    e.id: e
    for e in (
        DatasetEntry(id="census-income-kdd", spec=census.SPEC,
                     description="Census-Income (KDD) for multi-task learning (AdaTT, MMoE, PLE); read directly"),
    )
}


def get_entry(dataset_id: str) -> DatasetEntry:
    """The entry for `dataset_id`, or a :class:`UserError` listing the known ids."""
    try:
        return ENTRIES[dataset_id]
    except KeyError:
        raise UserError(f"unknown dataset id '{dataset_id}'; known ids: {', '.join(ENTRIES)}") from None


def status(entry: DatasetEntry, data_dir: Path) -> str:
    """``absent`` / ``raw present`` (some or all raw files) for one dataset in `data_dir`."""
    present = [entry.spec.find(data_dir, raw) is not None for raw in entry.spec.files]
    if not any(present):
        return "absent"
    return "raw present" if all(present) else "raw partly present"


def verify(entry: DatasetEntry, data_dir: Path) -> dict[str, Any]:
    """Verify the raw files, then the prepared cache if the dataset has one."""
    report = _verify_raw(entry, data_dir)
    if entry.verify is not None:
        report["cache"] = entry.verify(data_dir)
    return report
