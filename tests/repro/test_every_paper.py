"""Every implemented paper of the registry: its smoke run completes and every claim gets a measured verdict."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from repro.registry import load_registry
from repro.runner import RunRequest, run

IMPLEMENTED = [paper.id for paper in load_registry().values() if paper.implemented]


def test_the_registry_has_implemented_papers() -> None:
    assert len(IMPLEMENTED) >= 6 and "dlrm" in IMPLEMENTED


@pytest.mark.slow
@pytest.mark.parametrize("paper_id", IMPLEMENTED)
def test_smoke_run_measures_every_claim(paper_id: str, tmp_path: Path) -> None:
    paper = load_registry()[paper_id]
    final = run(RunRequest(paper_id=paper_id, profile="smoke", results_dir=tmp_path, figures=False),
                Console(file=io.StringIO(), width=200))
    assert final is not None
    record = json.loads((final / "record.json").read_text(encoding="utf-8"))
    assert record["status"] == "completed"
    seeds = record["config"]["seeds"]
    measured: dict[str, list[int]] = {}
    for seed_run in record["runs"]:
        for metric in seed_run["metrics"]:
            measured.setdefault(f"{seed_run['model']}:{metric}", []).append(seed_run["seed"])
    for claim in paper.claims:
        for quantity in claim.quantities():
            assert sorted(measured.get(quantity, [])) == seeds, f"{claim.id}: {quantity} is not measured on every seed"
    assert [v["claim_id"] for v in record["verdicts"]] == [c.id for c in paper.claims if c.kind != "fact"]
    assert [f["claim_id"] for f in record["facts"]] == [c.id for c in paper.claims if c.kind == "fact"]
    for verdict in record["verdicts"]:
        assert verdict["status"] in ("reproduced", "not reproduced", "inconclusive"), verdict
        assert "not measured" not in verdict["reason"], verdict
