"""The bdr smoke profile through experiment.run: MX9/MX6/MX4 and BFP QSNR and casts against FP32."""

from __future__ import annotations

from typing import Any, Callable

from repro.claims import evaluate_claims, evaluate_fact


def test_smoke_profile_measures_every_claim(smoke_run: Callable[..., tuple[Any, Any]]) -> None:
    paper, result = smoke_run("bdr")
    measured = result.measurements()
    for claim in paper.claims:
        assert all(len(measured[q]) == 2 for q in claim.quantities()), claim.id
    assert len(evaluate_claims(paper.claims, measured)) == len([c for c in paper.claims if c.kind != "fact"])
    assert [evaluate_fact(c, measured)["agrees"] for c in paper.claims if c.kind == "fact"] == [True, True]
    # The microexponent buys QSNR at every mantissa width, on every seed's draw.
    for mx, bfp in (("mx9", "bfp16_m7"), ("mx6", "bfp16_m4"), ("mx4", "bfp16_m2")):
        assert all(a > b for a, b in zip(measured[f"{mx}:qsnr_db"], measured[f"{bfp}:qsnr_db"]))
    assert not any(name.endswith("_trained") for name in result.models)  # the BDR study trains in FP32 only
