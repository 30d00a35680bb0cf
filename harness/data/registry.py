"""Every dataset id the suite knows, and the operations ``repro data …`` runs on them.

A dataset id names a dataset *and its protocol* (e.g. ``criteo-kaggle-dlrm``: the
facebookresearch/dlrm split of Criteo Kaggle). Each entry pairs the
:class:`~harness.data.catalog.DatasetSpec` of the raw files with a ``build`` step that turns
them into a checked, memory-mapped cache (:mod:`.cache`) in ``<cache dir>/<id>-<protocol hash>/``.

Functions for the CLI: :func:`get_entry`, :func:`status` (absent / raw present / raw partly present
/ prepared / verified: a ``verify`` passed and no cached file changed since), :func:`prepare`,
:func:`verify`; :data:`ENTRIES` lists the ids.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.atomic import write_json
from harness.data import census, criteo, frappe, movielens, taobao, taobao_ad, teacher_ctr
from harness.data.cache import cache_folder, file_stats, read_manifest, resolve_cache_dir
from harness.data.catalog import DatasetSpec, check_gzip, sha256_of
from harness.data.checks import verify_cache
from harness.data.pipeline import TabularJob, run
from harness.data.progress import ProgressFn
from harness.errors import DataError, UserError

VERIFIED = "verified.json"
Builder = Callable[[dict[str, Path], Path, bool, "ProgressFn | None"], dict[str, Any]]


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset id: its raw files, and how to build its cache (``build`` None: read directly)."""

    id: str
    spec: DatasetSpec
    description: str
    build: Builder | None = None
    params: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] | None = None
    jagged_keys: tuple[str, ...] = ()

    def raw_files(self) -> list[str]:
        """Names of the raw files the build reads (default: all of the spec's files)."""
        return list(self.needs) if self.needs is not None else [f.name for f in self.spec.files]


def tabular(make_job: Callable[[list[Path]], TabularJob]) -> Builder:
    """A builder running the streaming pipeline on the job `make_job` builds from the raw paths."""
    def build(sources: dict[str, Path], folder: Path, skip_bad_lines: bool,
              progress: ProgressFn | None) -> dict[str, Any]:
        return run(make_job(list(sources.values())), folder, skip_bad_lines=skip_bad_lines, progress=progress)
    return build


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


def _entries() -> tuple[DatasetEntry, ...]:
    """Every registered dataset id."""
    kaggle = ("train.txt",)
    return (
        DatasetEntry(id="census-income-kdd", spec=census.SPEC,
                     description="Census-Income (KDD) for multi-task learning (AdaTT, MMoE, PLE); read directly"),
        DatasetEntry(id="criteo-kaggle-dlrm", spec=criteo.KAGGLE_SPEC, needs=kaggle,
                     build=tabular(criteo.kaggle_dlrm_job), params=criteo.kaggle_dlrm_job([]).params,
                     description="Criteo Kaggle, facebookresearch/dlrm protocol: 7 pseudo-days, day 6 halved "
                                 "test|val, log(x+1) dense, per-feature dictionaries"),
        DatasetEntry(id="criteo-kaggle-bars", spec=criteo.KAGGLE_SPEC, needs=kaggle,
                     build=tabular(criteo.kaggle_bars_job), params=criteo.kaggle_bars_job([]).params,
                     description="Criteo Kaggle, BARS Criteo_x1 protocol: seeded random 7:2:1, "
                                 "min_categr_count 10"),
        DatasetEntry(id="criteo-kaggle-hashed", spec=criteo.KAGGLE_SPEC, needs=kaggle,
                     build=tabular(criteo.kaggle_hashed_job), params=criteo.kaggle_hashed_job([]).params,
                     description="Criteo Kaggle, dlrm split with hash-mod-1M tables (capped-table experiments)"),
        DatasetEntry(id="criteo-1tb", spec=criteo.TB_SPEC,
                     build=tabular(criteo.criteo_1tb_job), params=criteo.criteo_1tb_job([]).params,
                     description="Criteo 1TB, days 0-22 train, day 23 halved val|test, hashed 40M-capped tables"),
        DatasetEntry(id="frappe", spec=frappe.SPEC, needs=frappe.VALIDATION_AND_TEST,
                     build=tabular(frappe.frappe_job), params=frappe.frappe_params(False),
                     description="Frappe app usage, NFM/BARS libfm split without its train file: the validation "
                                 "file split 80/20 (seeded) into train|val, the official test file as test; "
                                 "10 one-hot fields by token position, labels -1/1 -> 0/1"),
        DatasetEntry(id="frappe-bars", spec=frappe.SPEC,
                     build=tabular(lambda sources: frappe.frappe_job(sources, published_split=True)),
                     params=frappe.frappe_params(True),
                     description="Frappe app usage, NFM/BARS Frappe_x1 split as published (train 202,027 | "
                                 "validation 57,722 | test 28,860 rows); needs frappe.train.libfm"),
        *(_movielens_entry(size, ctr) for size in movielens.VARIANTS for ctr in (False, True)),
        DatasetEntry(id="taobao-user-behavior", spec=taobao.SPEC, build=tabular(taobao.user_behavior_job),
                     params=taobao.user_behavior_params(), jagged_keys=("hist_item", "hist_category"),
                     description="Taobao UserBehavior, 2017-11-25..12-03 (CST) window, per-user histories of "
                                 f"{taobao.DEFAULT_HISTORY} events, label = behaviour, split by day"),
        DatasetEntry(id="taobao-ad", spec=taobao_ad.SPEC, build=tabular(taobao_ad.ad_job),
                     params=taobao_ad.ad_params(),
                     description="Taobao display-ad clicks (Tianchi 56) joined with ad and user profiles; "
                                 "2017-05-13 test, hashed 1/10 of earlier days val"),
        _teacher_ctr_entry("synthetic-ctr-teacher", 500_000),
        _teacher_ctr_entry("synthetic-ctr-teacher-small", 50_000),
    )


def _teacher_ctr_entry(dataset_id: str, rows: int) -> DatasetEntry:
    """A generated CTR dataset with a hidden teacher DLRM (:mod:`.teacher_ctr`); `rows` rows, seed 0."""
    p = teacher_ctr.params(rows)

    def build(sources: dict[str, Path], folder: Path, skip_bad_lines: bool,
              progress: ProgressFn | None) -> dict[str, Any]:
        return teacher_ctr.build(p, dataset_id, folder, progress)
    return DatasetEntry(id=dataset_id, spec=teacher_ctr.spec(dataset_id), build=build, params=p, needs=(),
                        description=f"SYNTHETIC: {rows:,} Criteo-like rows (13 dense, 26 Zipf fields in 4 planted "
                                    f"groups), labels from a hidden teacher DLRM whose logits are stored; 80/10/10")


def _movielens_entry(size: str, ctr: bool) -> DatasetEntry:
    """The entry of a MovieLens release under the explicit-rating or the CTR protocol."""
    variant = movielens.VARIANTS[size]
    label = "implicit/CTR labels (rating >= 4)" if ctr else "explicit ratings"
    return DatasetEntry(id=f"movielens-{size}{'-ctr' if ctr else ''}", spec=variant.spec,
                        build=tabular(lambda sources: movielens.movielens_job(size, ctr, sources)),
                        params=movielens.movielens_params(size, ctr), jagged_keys=("genres",),
                        description=f"MovieLens {size.upper()}, {label}, random 8:1:1, user/item/genre features")


ENTRIES: dict[str, DatasetEntry] = {e.id: e for e in _entries()}


def get_entry(dataset_id: str) -> DatasetEntry:
    """The entry for `dataset_id`, or a :class:`UserError` listing the known ids."""
    try:
        return ENTRIES[dataset_id]
    except KeyError:
        raise UserError(f"unknown dataset id '{dataset_id}'; known ids: {', '.join(ENTRIES)}") from None


def find_sources(entry: DatasetEntry, data_dir: Path, raw: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """The raw files the build reads: from `raw` (the file itself, or a folder holding them) or `data_dir`.

    A :class:`DataError` names what is missing and where it was looked for.
    """
    names = entry.raw_files()
    if raw is None:
        return entry.spec.require(data_dir, names)
    path = Path(raw).expanduser()
    if path.is_file():
        if len(names) != 1:
            raise DataError(f"{path}: '{entry.id}' reads {len(names)} files ({', '.join(names)}); pass the "
                            f"folder that holds them with --raw, not one file.")
        return {names[0]: path}
    if path.is_dir():
        found = {}
        for raw_file in entry.spec.files:
            if raw_file.name not in names:
                continue
            hit = next((path / n for n in (raw_file.name, *raw_file.alternatives) if (path / n).is_file()), None)
            if hit is None:
                raise DataError(f"{path}: no {raw_file.name} (nor {', '.join(raw_file.alternatives) or 'an alternative'}) "
                                f"in this folder; '{entry.id}' expects the layout <folder>/{raw_file.name}.")
            found[raw_file.name] = hit
        return found
    raise DataError(f"{path}: --raw points at nothing (no such file or folder).")


def cache_location(entry: DatasetEntry, sources: dict[str, Path], cache_dir: Path | None = None) -> Path:
    """The cache folder of `entry` built from `sources` (the protocol and the raw files' identity)."""
    identity = {name: [p.name, p.stat().st_size] for name, p in sources.items()}
    return cache_folder(resolve_cache_dir(cache_dir), entry.id, {**entry.params, "sources": identity})


def _existing_cache(entry: DatasetEntry, data_dir: Path, cache_dir: Path | None) -> Path | None:
    """The prepared cache of `entry` for the raw files in `data_dir`, else any prepared one of the id."""
    try:
        folder = cache_location(entry, find_sources(entry, data_dir), cache_dir)
        if read_manifest(folder) is not None:
            return folder
    except DataError:
        pass
    root = resolve_cache_dir(cache_dir)
    prepared = sorted(f for f in root.glob(f"{entry.id}-*") if read_manifest(f) is not None) if root.is_dir() else []
    return prepared[0] if prepared else None


def _verified_unchanged(folder: Path) -> bool:
    """Whether a ``verify`` passed on this cache and no cached file changed since (size and mtime)."""
    marker = folder / VERIFIED
    if not marker.is_file():
        return False
    return json.loads(marker.read_text()).get("file_stats") == file_stats(folder)


def status(entry: DatasetEntry, data_dir: Path, cache_dir: Path | None = None) -> str:
    """``absent`` / ``raw present`` / ``raw partly present`` / ``prepared`` / ``verified``; a generated
    dataset without a cache yet: ``synthetic (generated by prepare)``."""
    if entry.build is not None:
        folder = _existing_cache(entry, data_dir, cache_dir)
        if folder is not None:
            return "verified" if _verified_unchanged(folder) else "prepared"
    if not entry.spec.files:
        return "synthetic (generated by prepare)"
    present = [entry.spec.find(data_dir, raw) is not None for raw in entry.spec.files
               if raw.name in entry.raw_files()]
    if not any(present):
        return "absent"
    return "raw present" if all(present) else "raw partly present"


def prepare(entry: DatasetEntry, data_dir: Path, raw: str | os.PathLike[str] | None = None,
            skip_bad_lines: bool = False, progress: ProgressFn | None = None,
            cache_dir: Path | None = None) -> dict[str, Any]:
    """Build (or reuse) the cache of `entry`; returns its manifest with the ``folder`` it lives in.

    An interrupted earlier run resumes from its last finished chunk.
    """
    if entry.build is None:
        raise UserError(f"dataset '{entry.id}' needs no preparation: its loader reads the raw files directly.")
    sources = find_sources(entry, data_dir, raw)
    folder = cache_location(entry, sources, cache_dir)
    manifest = read_manifest(folder)
    if manifest is None:
        manifest = entry.build(sources, folder, skip_bad_lines, progress)
    return {"folder": str(folder), **manifest}


def verify(entry: DatasetEntry, data_dir: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    """Verify the raw files, then re-hash and re-check the prepared cache if there is one."""
    report = _verify_raw(entry, data_dir)
    if entry.build is not None:
        folder = _existing_cache(entry, data_dir, cache_dir)
        if folder is None:
            report["cache"] = "not prepared (run `repro data prepare " + entry.id + "`)"
        else:
            report["cache"] = verify_cache(folder)
            write_json(folder / VERIFIED, {**report["cache"], "file_stats": file_stats(folder)})
    return report
