"""ci/verdict_history.py: the nightly trend table, verdict flips and the alert for an issue."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from repro.records import SCHEMA_VERSION

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ci"))
import verdict_history  # noqa: E402


def _record(run_id: str, status: str, finished: str) -> dict:
    return {"schema_version": SCHEMA_VERSION, "run_id": run_id, "profile": "default", "paper": {"id": "dlrm"},
            "finished_at": finished,
            "verdicts": [{"claim_id": "beats-logreg", "status": status}, {"claim_id": "bce", "status": "inconclusive"}],
            "verdict_counts": {"reproduced": int(status == "reproduced"), "not reproduced": int(status == "not reproduced"),
                               "inconclusive": 1}}


def _write(results: Path, record: dict) -> None:
    folder = results / "dlrm" / record["run_id"]
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps(record))


def test_a_flip_is_reported_and_raises_an_alert(tmp_path):
    results = tmp_path / "records"
    _write(results, _record("20261130T021700Z-default-aaaaaa", "reproduced", "2026-11-30T03:00:00+00:00"))
    _write(results, _record("20261201T021700Z-default-bbbbbb", "not reproduced", "2026-12-01T03:00:00+00:00"))
    summary, alert = verdict_history.summarize(results, [])
    assert "| dlrm | default | 1/0/1 → 0/1/1 |" in summary
    assert "`beats-logreg`: reproduced → not reproduced" in summary
    assert alert is not None and "beats-logreg" in alert


def test_steady_verdicts_and_time_noise_raise_no_alert(tmp_path):
    results = tmp_path / "records"
    for day in ("29", "30"):
        _write(results, _record(f"202611{day}T021700Z-default-aaaaa{day[1]}", "reproduced", f"2026-11-{day}T03:00:00+00:00"))
    (results / "dlrm" / "20261201T021700Z-default-cccccc").mkdir()
    (results / "dlrm" / "20261201T021700Z-default-cccccc" / "record.json").write_text("[]")
    summary, alert = verdict_history.summarize(results, ["time (informational, shared runner): moved"])
    assert alert is None
    assert "Records skipped" in summary and "time (informational" in summary
    _, alert = verdict_history.summarize(results, ["quality: a track_* benchmark regressed"])
    assert alert is not None and "Quality benchmark regressions" in alert
