"""Small valid run records for the corpus (the report tests have a richer factory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from repro.records import SCHEMA_VERSION

RUN_A = "20250101T120000Z-smoke-abc123"
RUN_B = "20250102T120000Z-smoke-def456"


def record(run_id: str = RUN_A, paper_id: str = "dlrm", **extra: Any) -> dict[str, Any]:
    """A valid record with one verdict of each status and one run."""
    verdicts = [{"claim_id": f"c{i}", "status": s, "statement": "x", "reason": "r", "source": "Table 1",
                 "paper": "1", "ours": "1", "transferred": False}
                for i, s in enumerate(("reproduced", "not reproduced", "inconclusive"))]
    return {"schema_version": SCHEMA_VERSION, "run_id": run_id, "status": "completed", "profile": "smoke",
            "paper": {"id": paper_id, "title": "Deep Learning Recommendation Model"},
            "started_at": "2025-01-01T12:00:00+00:00", "finished_at": "2025-01-01T12:05:00+00:00",
            "config": {"seeds": [0]}, "runs": [{"model": "dlrm", "seed": 0, "metrics": {"test_auc": 0.7}}],
            "verdicts": verdicts, "verdict_counts": {"reproduced": 1, "not reproduced": 1, "inconclusive": 1},
            "figures": [], **extra}


def write(results: Path, body: Any, run_id: str = RUN_A, paper_id: str = "dlrm") -> Path:
    """Write `body` (a record or anything else) as ``results/<paper>/<run>/record.json``; return the run folder."""
    run_dir = results / paper_id / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "record.json").write_text(body if isinstance(body, str) else json.dumps(body))
    return run_dir
