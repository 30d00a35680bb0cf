"""Run records: exclusive run folders, atomic finalisation, latest-run lookup."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from repro import records
from harness.errors import UserError


def minimal(run_id: str) -> dict:
    """The smallest record the schema accepts."""
    return {"schema_version": records.SCHEMA_VERSION, "run_id": run_id, "paper": {"id": "toy"}, "profile": "smoke",
            "finished_at": "2026-01-01T00:00:00+00:00", "verdicts": [],
            "verdict_counts": {"reproduced": 0, "not reproduced": 0, "inconclusive": 0}}


def test_concurrent_runs_get_distinct_folders(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: records.new_run(tmp_path, "toy", "smoke"), range(32)))
    assert len({run_id for run_id, _ in made}) == 32
    assert all(partial.is_dir() and partial.name.startswith(".") for _, partial in made)


def test_finalize_renames_and_latest_finds_it(tmp_path: Path) -> None:
    run_id, partial = records.new_run(tmp_path, "toy", "smoke")
    assert records.latest_record(tmp_path, "toy") is None  # unfinished runs are invisible
    final = records.finalize(partial, minimal(run_id))
    assert final == tmp_path / "toy" / run_id and not partial.exists()
    assert records.latest_record(tmp_path, "toy")["run_id"] == run_id
    assert records.find_run(tmp_path, run_id) == final
    assert json.loads((final / records.RECORD_FILE).read_text())["run_id"] == run_id


def test_resume_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a run id"):
        records.partial_dir(tmp_path, "toy", "nope")
    with pytest.raises(UserError, match="no unfinished run"):
        records.partial_dir(tmp_path, "toy", "20260101T000000Z-smoke-abcdef")
    run_id, partial = records.new_run(tmp_path, "toy", "smoke")
    records.finalize(partial, minimal(run_id))
    with pytest.raises(UserError, match="already finished"):
        records.partial_dir(tmp_path, "toy", run_id)


def test_config_hash_is_order_independent() -> None:
    assert records.config_hash({"a": 1, "b": [1, 2]}) == records.config_hash({"b": [1, 2], "a": 1})
    assert records.config_hash({"a": 1}) != records.config_hash({"a": 2})
