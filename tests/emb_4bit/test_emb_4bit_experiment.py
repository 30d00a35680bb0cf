"""The emb-4bit smoke profile runs through experiment.run: quantized models are measured against FP32."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from repro.claims import evaluate_claims, evaluate_fact


@pytest.mark.slow
def test_smoke_profile_measures_every_claim(smoke_run: Callable[..., tuple[Any, Any]]) -> None:
    paper, result = smoke_run("emb-4bit")
    measured = result.measurements()
    for claim in paper.claims:
        assert all(len(measured[q]) == 2 for q in claim.quantities()), claim.id
    assert len(evaluate_claims(paper.claims, measured)) == len(paper.claims) - 1  # the table arithmetic is a fact
    fact = next(c for c in paper.claims if c.kind == "fact")
    assert evaluate_fact(fact, measured)["constant"] is True
    # dim 8: 4 code bytes + 4 bytes of FP16 scale/bias per row against 32 FP32 bytes.
    assert measured["greedy:embedding_size_ratio"] == pytest.approx([0.25, 0.25])
    assert all(g <= m for g, m in zip(measured["greedy:row_error"], measured["minmax:row_error"]))
    assert all(0 < e < 1 for e in measured["codebook:row_error"])
