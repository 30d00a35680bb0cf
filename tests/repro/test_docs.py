"""`repro docs`: README blocks regenerated from run records, stale blocks detected, bad READMEs named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import UserError
from repro import docs, records
from repro.cli import main


def record(run_id: str, profile: str, finished_at: str, reproduced: int) -> dict[str, Any]:
    """A finished dlrm record with one verdict and one fact."""
    return {"schema_version": records.SCHEMA_VERSION, "run_id": run_id, "paper": {"id": "dlrm"},
            "profile": profile, "finished_at": finished_at, "wall_time_s": 90.0,
            "config": {"seeds": [0, 1, 2], "overrides": ["epochs=1"]},
            "environment": {"load_average": [1.0, 2.0, 3.25]},
            "verdicts": [{"claim_id": "c1", "paper": "<", "ours": "0.1 | 0.2", "status": "reproduced",
                          "reason": "line one\nline two"}],
            "facts": [{"claim_id": "f1", "text": "computed 4"}],
            "verdict_counts": {"reproduced": reproduced, "not reproduced": 0, "inconclusive": 1 - reproduced}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root whose README and dlrm README hold the markers, and a results folder."""
    (tmp_path / "README.md").write_text(f"# x\n\n{docs.TABLE_START}\nold\n{docs.TABLE_END}\n\ntail\n")
    (tmp_path / "papers" / "dlrm").mkdir(parents=True)
    (tmp_path / "papers" / "dlrm" / "README.md").write_text(f"# dlrm\n\n{docs.RUN_START}\nold\n{docs.RUN_END}\n")
    for profile, finished_at, reproduced in (("default", "2026-12-01T10:00:00+00:00", 0),
                                             ("smoke", "2026-12-02T10:00:00+00:00", 1)):
        run_id, partial = records.new_run(tmp_path / "results", "dlrm", profile)
        records.finalize(partial, record(run_id, profile, finished_at, reproduced))
    return tmp_path


def test_docs_writes_the_latest_default_run_and_check_then_passes(project: Path) -> None:
    assert main(["docs", "--root", str(project), "--results", str(project / "results"), "--check"]) == 1
    assert main(["docs", "--root", str(project), "--results", str(project / "results")]) == 0
    paper_readme = (project / "papers" / "dlrm" / "README.md").read_text()
    assert "**0 reproduced, 0 not reproduced, 1 inconclusive**" in paper_readme  # the default run, not the smoke one
    assert "15-minute load average of 3.2" in paper_readme and "epochs=1" in paper_readme
    assert "| c1 | < | 0.1 / 0.2 | reproduced | line one line two |" in paper_readme
    assert "- `f1`: computed 4" in paper_readme
    root_readme = (project / "README.md").read_text()
    assert "| dlrm |" in root_readme and "old" not in root_readme and root_readme.endswith("tail\n")
    assert main(["docs", "--root", str(project), "--results", str(project / "results"), "--check"]) == 0


def test_a_paper_readme_without_markers_gets_the_block_appended(project: Path) -> None:
    readme = project / "papers" / "dlrm" / "README.md"
    readme.write_text("# dlrm\n\nno block yet\n")
    docs.update_docs(project, project / "results")
    text = readme.read_text()
    assert text.startswith("# dlrm\n\nno block yet\n\n" + docs.RUN_START) and text.endswith(docs.RUN_END + "\n")


def test_a_root_readme_without_markers_is_a_clear_error(project: Path) -> None:
    (project / "README.md").write_text("# no markers\n")
    with pytest.raises(UserError, match=r"README.md: expected exactly one '<!-- papers-table:start -->'"):
        docs.update_docs(project, project / "results")


def test_a_duplicated_block_is_refused(project: Path) -> None:
    readme = project / "papers" / "dlrm" / "README.md"
    readme.write_text(readme.read_text() * 2)
    with pytest.raises(UserError, match="exactly one"):
        docs.update_docs(project, project / "results")
