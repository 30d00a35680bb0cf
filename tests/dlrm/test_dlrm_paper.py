"""papers/dlrm: the smoke profile runs end to end through experiment.run, resumes, and feeds the claims."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from repro.claims import Claim, evaluate_claims
from harness.experiment import ExperimentContext
from harness.study import lr_trial
from papers.dlrm import experiment
from repro.registry import get_paper

PAPER = Path(experiment.__file__).with_name("paper.toml")


def _context(tmp_path: Path, profile: str = "smoke") -> ExperimentContext:
    paper = get_paper("dlrm")
    params = paper.parse_params(paper.profiles[profile].params)
    return ExperimentContext("dlrm", profile, [0, 1], "cpu", tmp_path / "data", tmp_path / "work", params)


def _claims() -> list[Claim]:
    raw = tomllib.loads(PAPER.read_text())["claims"]
    return [Claim(**{k: (float(v) if k in ("paper_value", "tolerance") else v) for k, v in c.items()}) for c in raw]


@pytest.mark.slow
def test_smoke_profile_gives_every_claimed_quantity(tmp_path: Path) -> None:
    result = experiment.run(_context(tmp_path))
    assert {r.model for r in result.runs} == {"dlrm", "logreg", "dcn"} and len(result.runs) == 6
    measured = result.measurements()
    for verdict in evaluate_claims(_claims(), measured):
        assert "not measured" not in verdict.reason, verdict.claim_id
    dlrm_run = next(r for r in result.runs if r.model == "dlrm")
    assert dlrm_run.metrics["step_ms_total"] > 0 and dlrm_run.config["sparse_optimizer"] == "sgd"
    jobs = tmp_path / "work" / "jobs"
    assert (jobs / f"{lr_trial('dlrm', 0.1)}-seed0" / "job.json").exists()
    # DCN alone is tuned, on seed 1000 over the smoke grid; DLRM and LR keep the reference rate untried elsewhere
    assert sorted(d.name for d in jobs.iterdir() if d.name.endswith("-seed1000")) == \
        [f"{lr_trial('dcn', lr)}-seed1000" for lr in (0.03, 0.1)]
    assert result.models["dlrm"]["lr_tuned"] is False and result.models["dcn"]["lr_grid"] == [0.1, 0.03]
    # a second call (the runner's --resume of a finished job) reuses the results without training
    again = experiment.run(_context(tmp_path))
    assert again.measurements() == measured


def test_profiles_use_the_reference_configuration() -> None:
    profiles = tomllib.loads(PAPER.read_text())["profiles"]
    for name in ("default", "full"):
        p = profiles[name]["params"]
        assert (p["bottom"], p["top"], p["dim"], p["lr"], p["batch_size"]) == \
            ([13, 512, 256, 64, 16], [512, 256, 1], 16, 0.1, 128)
    assert profiles["default"]["params"]["small_sample"] is True
