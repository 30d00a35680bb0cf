"""The md-embeddings smoke profile runs both tasks (DLRM on Criteo, MF on MovieLens) through experiment.run."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from repro.claims import evaluate_claims


@pytest.mark.slow
def test_smoke_profile_measures_both_tasks(smoke_run: Callable[..., tuple[Any, Any]]) -> None:
    paper, result = smoke_run("md-embeddings")
    measured = result.measurements()
    assert len(measured["ctr_md_0.3_16x:test_accuracy"]) == 2 and len(measured["cf_md_0.3_8x:test_mse"]) == 2
    assert measured["ctr_uniform_32:params_vs_base"] == [1.0, 1.0]
    assert measured["ctr_uniform_2:params_vs_base"] == [1 / 16, 1 / 16]
    # Budgets are met up to rounding and the projections.
    assert 0.04 < measured["ctr_md_0.3_16x:params_vs_base"][0] < 0.12
    assert 0.4 < measured["ctr_md_0.2_2x:params_vs_base"][0] < 0.7
    assert 0.08 < measured["cf_md_0.3_8x:params_vs_base"][0] < 0.25
    for verdict in evaluate_claims(paper.claims, measured):
        assert verdict.status in ("reproduced", "not reproduced", "inconclusive")
