"""The AdaTT experiment end to end through run(ctx) on the smoke profile, and its parameter checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from repro.claims import evaluate_claims
from harness.errors import ConfigError, DataError
from harness.experiment import ExperimentContext
from harness.study import lr_trial
from papers.adatt.experiment import MODELS, run
from repro.registry import get_paper, load_registry


class RecordingProgress:
    """A progress sink that remembers what it was told."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, int]] = []
        self.logs: list[str] = []

    def start_job(self, model: str, seed: int, epochs: int) -> None:
        self.jobs.append((model, seed))

    def update(self, epoch: int, examples_per_s: float, message: str = "") -> None:
        assert examples_per_s > 0

    def end_job(self) -> None:
        pass

    def log(self, message: str) -> None:
        self.logs.append(message)


def _context(tmp_path: Path, profile: str, params: dict, data_dir: Path | None = None) -> ExperimentContext:
    return ExperimentContext(paper_id="adatt", profile=profile, seeds=[0, 1], device="cpu",
                             data_dir=data_dir or tmp_path / "no-data", work_dir=tmp_path / "work",
                             params=get_paper("adatt").parse_params(params), progress=RecordingProgress())


@pytest.mark.slow
def test_smoke_profile_end_to_end(tmp_path: Path) -> None:
    paper = load_registry()["adatt"]
    ctx = _context(tmp_path, "smoke", paper.profiles["smoke"].params)
    result = run(ctx)
    trials = [lr_trial(m, 5e-3) for m in MODELS]
    # clean: the lr grid on the tuning seed, then the evaluated seeds; paper: the evaluated seeds
    assert ctx.progress.jobs == ([(t, 1000) for t in trials] + [(t, s) for t in trials for s in (0, 1)]
                                 + [(f"paper_{m}", s) for m in MODELS for s in (0, 1)])
    assert any("SYNTHETIC" in line for line in ctx.progress.logs)
    assert any("chosen by validation AUC" in line and "tuning seed 1000" in line for line in ctx.progress.logs)
    assert len(result.runs) == 2 * 2 * len(MODELS)
    assert set(result.models) == set(MODELS) | {f"paper_{m}" for m in MODELS}
    measured = result.measurements()
    for verdict in evaluate_claims(paper.claims, measured):  # every claim's quantities are measured
        assert "not measured" not in verdict.reason
    clean, faithful = result.dataset["clean"], result.dataset["paper"]
    assert clean["eval_encoding"] == "aligned" and clean["education_label"] == "bachelor_plus"
    assert faithful["eval_encoding"] == "mmoeex" and faithful["shifted_eval_columns"] > 0
    assert faithful["education_label"] == "mmoeex" and faithful["official_files"] is False
    assert all(len(f["sha256"]) == 64 for f in faithful["files"])
    assert any("inferred" in note or "assume" in note for note in result.protocol_notes)
    assert any(note.startswith("CLEAN PROTOCOL") for note in result.protocol_notes)
    assert any(note.startswith("PAPER PROTOCOL") for note in result.protocol_notes)
    # every clean run keeps its learning curve; the planted signal is learned (never-married is easy)
    assert all(r.curve for r in result.runs)
    assert np.mean(measured["adatt_6:test_auc_never_married"]) > 0.65


def test_the_tuning_seed_must_not_be_evaluated(tmp_path: Path) -> None:
    params = {**load_registry()["adatt"].profiles["smoke"].params, "tuning_seed": 1}
    with pytest.raises(ConfigError, match="tuning_seed 1 is one of the evaluated seeds"):
        run(_context(tmp_path, "smoke", params))


def test_real_data_errors_leave_no_partial_output(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "default", {"data": "census"})
    with pytest.raises(DataError, match="census-income.test.gz"):
        run(ctx)
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").rglob("*"))


@pytest.mark.parametrize("params,message", [({"epoch": 3}, "unknown parameter 'epoch' .did you mean 'epochs'"),
                                            ({"models": ["adatt_7"]}, "unknown model"),
                                            ({"data": "kaggle"}, "'data' must be 'census' or 'synthetic'"),
                                            ({"education_label": "college"}, "education_label")])
def test_bad_profile_parameters_are_config_errors(tmp_path: Path, params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(_context(tmp_path, "smoke", params))


@pytest.mark.slow
def test_parallel_jobs_give_the_same_metrics_as_one_process(tmp_path: Path) -> None:
    """Each (model, seed) job seeds itself, so two worker processes change nothing but the wall time."""
    params = {**load_registry()["adatt"].profiles["smoke"].params, "models": ["adatt_6", "ple_6"], "epochs": 1,
              "protocol": "paper"}
    serial = run(_context(tmp_path / "serial", "smoke", params))
    parallel_ctx = replace(_context(tmp_path / "parallel", "smoke", params), jobs=2)
    parallel = run(parallel_ctx)
    assert [(r.model, r.seed) for r in parallel.runs] == [(r.model, r.seed) for r in serial.runs]
    assert [r.metrics for r in parallel.runs] == [r.metrics for r in serial.runs]
    assert parallel.models == serial.models
    assert sum("adatt_6 seed" in line for line in parallel_ctx.progress.logs) == 2, "one line per finished job"
