"""The fa-sgd smoke profile runs through experiment.run: every method trains and is measured."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from repro.claims import evaluate_claims


@pytest.mark.slow
def test_smoke_profile_trains_every_method(smoke_run: Callable[..., tuple[Any, Any]]) -> None:
    paper, result = smoke_run("fa-sgd")
    measured = result.measurements()
    assert {r.model for r in result.runs} == {f"ml1m_{m}" for m in ("sgd", "fa_sgd", "cf_sgd", "adagrad", "adam")} | \
        {"criteo_cf_sgd", "criteo_adagrad"}
    assert all(len(v) == 2 for k, v in measured.items() if k.endswith(":test_auc"))
    assert measured["ml1m_sgd:optimizer_bytes"][0] == 0
    assert measured["ml1m_cf_sgd:optimizer_bytes"][0] < measured["ml1m_adagrad:optimizer_bytes"][0]
    assert measured["ml1m_cf_sgd:optimizer_bytes"][0] < measured["ml1m_adam:optimizer_bytes"][0] / 8
    assert measured["criteo_cf_sgd:optimizer_bytes"][0] < measured["criteo_adagrad:optimizer_bytes"][0]
    for verdict in evaluate_claims(paper.claims, measured):
        assert "not measured" not in verdict.reason, verdict.claim_id
