"""Run records: one folder per run under ``results/<paper>/<run-id>/``.

A run works inside a hidden folder ``.<run-id>.partial`` (checkpoints and scratch live there, so
``--resume`` can pick it up after a crash) and is renamed to ``<run-id>`` only once its
``record.json`` is complete, so a reader never sees a half-written run. Run ids carry a UTC
timestamp and a random suffix, and folders are created exclusively: two concurrent runs never
clobber each other.

``record.json`` holds the resolved config and its hash, the environment, the dataset manifest,
per-seed metrics and curves, verdicts, wall time and throughput (see :func:`build_record`).
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
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from harness.atomic import write_json
from harness.errors import UserError

RECORD_FILE = "record.json"
SCHEMA_VERSION = 1


def config_hash(config: dict[str, Any]) -> str:
    """A short stable hash of a resolved config (keys sorted, JSON-encoded)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


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
    path = results_dir / paper_id / f".{run_id}.partial"
    if not path.is_dir():
        done = results_dir / paper_id / run_id
        if done.is_dir():
            raise UserError(f"run {run_id} of {paper_id} already finished ({done}); nothing to resume")
        raise UserError(f"no unfinished run {run_id} under {results_dir / paper_id}; "
                        f"unfinished runs are the folders named .<run-id>.partial there")
    return path


def finalize(partial: Path, record: dict[str, Any]) -> Path:
    """Write ``record.json`` into `partial` atomically, then rename the folder to its run id."""
    write_json(partial / RECORD_FILE, record)
    final = partial.parent / record["run_id"]
    os.replace(partial, final)
    return final


def load_record(run_dir: Path) -> dict[str, Any]:
    """Read one run's record, with its folder attached as ``record['_dir']``."""
    path = run_dir / RECORD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: no run record here; pass a folder under results/<paper>/") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc}); the record is damaged") from exc
    record["_dir"] = str(run_dir)
    return record


def iter_records(results_dir: Path, paper_id: str | None = None) -> list[dict[str, Any]]:
    """All finished run records under `results_dir` (optionally one paper's), oldest first."""
    if not results_dir.is_dir():
        return []
    folders = [results_dir / paper_id] if paper_id else sorted(p for p in results_dir.iterdir() if p.is_dir())
    records = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for run_dir in sorted(folder.iterdir()):
            if run_dir.name.startswith(".") or not (run_dir / RECORD_FILE).is_file():
                continue
            try:
                records.append(load_record(run_dir))
            except UserError:
                continue
    return sorted(records, key=lambda r: (r.get("finished_at", ""), r.get("run_id", "")))


def latest_record(results_dir: Path, paper_id: str) -> dict[str, Any] | None:
    """The most recent finished run of `paper_id`, or None."""
    records = iter_records(results_dir, paper_id)
    return records[-1] if records else None


def find_run(results_dir: Path, run_id: str) -> Path:
    """The folder of finished run `run_id` (searched under every paper), or a clear error."""
    matches = sorted(results_dir.glob(f"*/{run_id}"))
    if not matches:
        raise UserError(f"no finished run '{run_id}' under {results_dir}; `repro report` lists the runs")
    return matches[0]
