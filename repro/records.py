"""Run records: one folder per run under ``results/<paper>/<run-id>/``.

A run works inside a hidden folder ``.<run-id>.partial`` (checkpoints and scratch live there, so
``--resume`` can pick it up after a crash) and is renamed to ``<run-id>`` only once its
``record.json`` is complete, so a reader never sees a half-written run; the parent folder is
fsynced after the rename, so the commit survives a power cut. Run ids carry a UTC timestamp and
a random suffix (:data:`RUN_ID_PATTERN`), and folders are created exclusively: two concurrent runs
never clobber each other. A run id given by a user (``--resume``, ``repro figures``) is checked
against that exact format before it touches a path.

``record.json`` holds the resolved config and its hash, the environment, the dataset manifest,
per-seed metrics and curves, verdicts, wall time and throughput (see ``repro.runner.build_record``).
Beside the verdicts a reviewer reads (repro/claims.py for the rules):

* ``verdicts[*]``: ``p_value`` / ``p_adjusted`` (raw and Holm-adjusted p of the deciding
  direction), ``p_values`` (both directions, raw and adjusted), ``adjustment`` (method, family
  size), ``test`` (``welch``, ``paired``, ``one-sample``, ``exact`` for zero spread), ``power``
  (for inconclusive tests: minimum detectable effect now and at 100 seeds, the paper's effect, the
  seeds it needs), ``underpowered``, ``degenerate`` (quantities no better than a constant predictor);
* ``underpowered_count``: inconclusive claims the profile cannot resolve at any seed count up to 100;
* ``multiple_testing``: the adjustment method and family size;
* ``facts``: computed facts (configuration arithmetic), shown and never counted;
* ``paper_protocol`` (``[paper_protocol]`` of paper.toml) and ``run_protocol`` (this run's data,
  rows, epochs, seeds, recipe);
* ``smoke`` and ``banner``: a smoke run tests the pipeline, not the paper.

Its layout is :data:`RECORD_SCHEMA` (JSON Schema, version :data:`SCHEMA_VERSION`): strict for the
fields readers rely on (ids, profile, times, verdicts and their counts, metrics, figure paths),
open to extra keys everywhere else so that new fields need no new version. A record is validated
when written and when read; older versions are migrated on read (:func:`migrate`). Readers that
list many records (:func:`scan_records`) skip an invalid one and say which and why.

Every artefact path read from a run folder goes through :func:`inside_run`: it must stay inside
the folder after resolution, and no part of it may be a symbolic link.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema

from harness.atomic import write_json
from harness.errors import UserError

RECORD_FILE = "record.json"
SCHEMA_VERSION = 2
PROFILES = ("smoke", "default", "full")
RUN_ID_PATTERN = r"^[0-9]{8}T[0-9]{6}Z-(?:smoke|default|full)-[0-9a-f]{6}$"
PAPER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
STATUSES = ("reproduced", "not reproduced", "inconclusive")
# The most seeds one run may ask for (`repro run --seeds`): verdicts need 3-10; far more only
# multiplies the run time (100,000 seeds would be hours of work and a 1 MB config).
MAX_SEEDS = 100

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_OBJECT = {"type": "object"}

RECORD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "recrepro run record",
    "type": "object",
    "required": ["schema_version", "run_id", "paper", "profile", "finished_at", "verdicts", "verdict_counts"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "run_id": {"type": "string", "pattern": RUN_ID_PATTERN},
        "status": {"type": "string"},
        "paper": {"type": "object", "required": ["id"],
                  "properties": {"id": {"type": "string", "pattern": PAPER_ID_PATTERN},
                                 "title": {"type": "string"}, "arxiv": {"type": ["string", "null"]},
                                 "venue": {"type": ["string", "null"]}, "year": {"type": ["integer", "null"]},
                                 "family": {"type": ["string", "null"]}, "authors": _STRING_LIST}},
        "profile": {"enum": list(PROFILES)},
        "started_at": {"type": "string"},
        "finished_at": {"type": "string"},
        "wall_time_s": _NUMBER_OR_NULL,
        "config": {"type": "object", "properties": {"seeds": {"type": "array", "items": {"type": "integer"}}}},
        "config_hash": {"type": "string"},
        "environment": _OBJECT,
        "dataset": {"type": ["object", "null"]},
        "protocol_notes": _STRING_LIST,
        "models": _OBJECT,
        "runs": {"type": "array", "items": {
            "type": "object",
            "properties": {"model": {"type": "string"}, "seed": {"type": "integer"},
                           "metrics": {"type": "object", "additionalProperties": _NUMBER_OR_NULL},
                           "curve": {"type": "array", "items": _OBJECT},
                           "wall_time_s": _NUMBER_OR_NULL, "examples_per_s": _NUMBER_OR_NULL}}},
        "claims": {"type": "array", "items": _OBJECT},
        "verdicts": {"type": "array", "items": {
            "type": "object", "required": ["claim_id", "status"],
            "properties": {"claim_id": {"type": "string"}, "status": {"enum": list(STATUSES)},
                           "statement": {"type": "string"}, "reason": {"type": "string"},
                           "source": {"type": "string"}, "transferred": {"type": "boolean"},
                           "p_value": _NUMBER_OR_NULL}}},
        "verdict_counts": {"type": "object", "required": list(STATUSES),
                           "additionalProperties": {"type": "integer", "minimum": 0}},
        "throughput": {"type": "object", "properties": {"examples_per_s_mean": _NUMBER_OR_NULL,
                                                         "examples_per_s": _NUMBER_OR_NULL}},
        "figures": _STRING_LIST,
        "notebook": {"type": ["string", "null"]},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(RECORD_SCHEMA)


class InvalidRecord(UserError):
    """A ``record.json`` that is not JSON, not an object or does not follow :data:`RECORD_SCHEMA`."""


def config_hash(config: dict[str, Any]) -> str:
    """A short stable hash of a resolved config (keys sorted, JSON-encoded)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def check_run_id(run_id: str, what: str = "run id") -> str:
    """`run_id` if it has the exact format of a run id (``20261201T105633Z-default-6f57fd``), else a UserError.

    A run id becomes a path segment; this check is what keeps ``..``, ``/``, globs and empty
    strings out of every path built from user input.
    """
    if not isinstance(run_id, str) or not re.fullmatch(RUN_ID_PATTERN, run_id):
        shown = repr(run_id)[:80]
        raise UserError(f"{what} {shown} is not a run id; a run id looks like 20261201T105633Z-default-6f57fd "
                        f"(UTC time, profile, 6 hex digits): copy it from `repro report`, from the folder "
                        f"names under results/<paper>/, or from the message that printed it")
    return run_id


def new_run(results_dir: Path, paper_id: str, profile: str) -> tuple[str, Path]:
    """Create a fresh, exclusive working folder for a run; return ``(run_id, partial_dir)``."""
    paper_dir = results_dir / paper_id
    paper_dir.mkdir(parents=True, exist_ok=True)
    while True:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        run_id = f"{stamp}-{profile}-{secrets.token_hex(3)}"
        partial = paper_dir / f".{run_id}.partial"
        try:
            partial.mkdir()
        except FileExistsError:
            continue
        return run_id, partial


def partial_dir(results_dir: Path, paper_id: str, run_id: str) -> Path:
    """The working folder of an unfinished run, for ``--resume``; a clear error if there is none."""
    check_run_id(run_id, "--resume")
    paper_dir = results_dir / paper_id
    path = paper_dir / f".{run_id}.partial"
    if path.is_symlink() or not path.is_dir():
        done = paper_dir / run_id
        if done.is_dir() and not done.is_symlink():
            raise UserError(f"run {run_id} of {paper_id} already finished ({done}); nothing to resume")
        raise UserError(f"no unfinished run {run_id} under {paper_dir}; "
                        f"unfinished runs are the folders named .<run-id>.partial there (is --results right?)")
    return path


def fsync_dir(folder: Path) -> None:
    """Flush `folder`'s entries (a rename inside it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def finalize(partial: Path, record: dict[str, Any]) -> Path:
    """Validate `record`, write it into `partial` atomically, rename the folder to its run id, fsync the parent."""
    validate(record, where=partial / RECORD_FILE)
    write_json(partial / RECORD_FILE, record)
    final = partial.parent / record["run_id"]
    os.replace(partial, final)
    fsync_dir(final.parent)
    return final


def _schema_error_text(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    message = error.message if len(error.message) <= 160 else error.message[:160] + "…"
    return f"field {where}: {message}"


def validate(record: Any, where: Path | str = RECORD_FILE) -> dict[str, Any]:
    """`record` if it follows :data:`RECORD_SCHEMA`, else an :class:`InvalidRecord` naming the field."""
    if not isinstance(record, dict):
        raise InvalidRecord(f"{where}: a run record must be a JSON object, not {type(record).__name__}")
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(record))
    if error is not None:
        raise InvalidRecord(f"{where}: {_schema_error_text(error)} (record schema version {SCHEMA_VERSION})")
    return record


def _count(verdicts: Any) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for verdict in verdicts if isinstance(verdicts, list) else []:
        status = verdict.get("status") if isinstance(verdict, dict) else None
        if status in counts:
            counts[status] += 1
    return counts


def migrate(record: dict[str, Any]) -> dict[str, Any]:
    """`record` brought to :data:`SCHEMA_VERSION` (a copy; the file is not rewritten).

    Version 1 (and records without ``schema_version``) were written before validation existed:
    ``verdict_counts`` may be absent (recomputed from ``verdicts``), ``figures`` absent (no
    figures) and ``finished_at`` absent (``started_at`` stands in).
    """
    version = record.get("schema_version", 1)
    if version == SCHEMA_VERSION:
        return record
    if version != 1:
        raise InvalidRecord(f"schema_version {excerpt_value(version)} is not one this version of recrepro reads "
                            f"(1 or {SCHEMA_VERSION}); upgrade recrepro")
    migrated = copy.copy(record)
    if "verdict_counts" not in migrated and isinstance(migrated.get("verdicts"), list):
        migrated["verdict_counts"] = _count(migrated["verdicts"])
    migrated.setdefault("figures", [])
    if "finished_at" not in migrated and isinstance(migrated.get("started_at"), str):
        migrated["finished_at"] = migrated["started_at"]
    migrated["schema_version"] = SCHEMA_VERSION
    return migrated


def excerpt_value(value: Any, limit: int = 60) -> str:
    """A short ``repr`` of `value` for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def load_record(run_dir: Path) -> dict[str, Any]:
    """Read, migrate and validate one run's record, with its folder attached as ``record['_dir']``.

    The folder's name must be the record's run id, and neither may be a symbolic link.
    """
    path = run_dir / RECORD_FILE
    if run_dir.is_symlink() or path.is_symlink():
        raise InvalidRecord(f"{path}: a symbolic link; run records are read only from real folders and files")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: no run record here; pass a folder under results/<paper>/") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRecord(f"{path}: not valid JSON ({excerpt_value(str(exc), 120)}); the record is damaged") from exc
    if not isinstance(raw, dict):
        raise InvalidRecord(f"{path}: a run record must be a JSON object, not {type(raw).__name__}")
    record = validate(migrate(raw), where=path)
    if record["run_id"] != run_dir.name:
        raise InvalidRecord(f"{path}: run_id {record['run_id']!r} differs from its folder name {run_dir.name!r}")
    record["_dir"] = str(run_dir)
    return record


@dataclass
class RecordScan:
    """The valid records found under a results folder, oldest first, and the ones skipped with why."""

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _real_dirs(folder: Path) -> list[Path]:
    """The sub-folders of `folder` that are real folders (symbolic links are not followed)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())


def scan_records(results_dir: Path, paper_id: str | None = None) -> RecordScan:
    """Every finished run record under `results_dir` (optionally one paper's), oldest first.

    An invalid record (not JSON, wrong fields, a symbolic link) is skipped and listed in
    ``skipped`` with the reason; the rest are still returned.
    """
    scan = RecordScan()
    if not results_dir.is_dir():
        return scan
    if paper_id is not None:
        folders = [results_dir / paper_id] if re.fullmatch(PAPER_ID_PATTERN, paper_id) else []
    else:
        folders = [p for p in _real_dirs(results_dir) if not p.name.startswith(".")]
    for folder in folders:
        if not folder.is_dir() or folder.is_symlink():
            if folder.is_symlink():
                scan.skipped.append((folder, "a symbolic link; result folders are read only when real"))
            continue
        for run_dir in sorted(folder.iterdir()):
            if run_dir.name.startswith("."):
                continue
            if run_dir.is_symlink():
                scan.skipped.append((run_dir, "a symbolic link; run folders are read only when real"))
                continue
            if not run_dir.is_dir() or not (run_dir / RECORD_FILE).exists():
                continue
            try:
                scan.records.append(load_record(run_dir))
            except UserError as exc:
                scan.skipped.append((run_dir, str(exc)))
    scan.records.sort(key=lambda r: (r["finished_at"], r["run_id"]))
    return scan


def iter_records(results_dir: Path, paper_id: str | None = None) -> list[dict[str, Any]]:
    """All valid finished run records under `results_dir` (optionally one paper's), oldest first."""
    return scan_records(results_dir, paper_id).records


def latest_record(results_dir: Path, paper_id: str) -> dict[str, Any] | None:
    """The most recent valid finished run of `paper_id`, or None."""
    records = iter_records(results_dir, paper_id)
    return records[-1] if records else None


def find_run(results_dir: Path, run_id: str) -> Path:
    """The folder of finished run `run_id` (searched under every paper), or a clear error."""
    check_run_id(run_id)
    if results_dir.is_dir():
        for paper_dir in _real_dirs(results_dir):
            candidate = paper_dir / run_id
            if candidate.is_dir() and not candidate.is_symlink():
                return candidate
    raise UserError(f"no finished run '{run_id}' under {results_dir}; `repro report` lists the runs "
                    f"(is --results right?)")


def inside_run(run_dir: Path, rel: str) -> Path | None:
    """The regular file `rel` (a relative POSIX path) inside `run_dir`, or None if it is unsafe or absent.

    Refused: absolute paths, ``..``, any symbolic link on the way (folders included), anything
    that resolves outside `run_dir`, and anything that is not a regular file.
    """
    pure = PurePosixPath(str(rel))
    if pure.is_absolute() or not pure.parts or any(part in ("..", "") for part in pure.parts):
        return None
    if run_dir.is_symlink():
        return None
    current = run_dir
    for part in pure.parts:
        current = current / part
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return None
        except OSError:
            return None
    root = run_dir.resolve()
    resolved = current.resolve()
    if root != resolved and root not in resolved.parents:
        return None
    return current if _regular_file(current) else None
