"""The mx-formats smoke profile through experiment.run: QSNR per format, casts and MXFP6 training against FP32."""

from __future__ import annotations

from typing import Any, Callable

from repro.claims import evaluate_claims


def test_smoke_profile_measures_every_claim(smoke_run: Callable[..., tuple[Any, Any]]) -> None:
    paper, result = smoke_run("mx-formats")
    measured = result.measurements()
    for claim in paper.claims:
        assert all(len(measured[q]) == 2 for q in claim.quantities()), claim.id
    assert len(evaluate_claims(paper.claims, measured)) == len([c for c in paper.claims if c.kind != "fact"])
    # The baseline's changes are zero by construction; a 4-bit cast moves the log loss.
    assert measured["dlrm_fp32:auc_change"] == [0.0, 0.0] and measured["dlrm_fp32:logloss_change_pct"] == [0.0, 0.0]
    assert all(change != 0 for change in measured["dlrm_mxfp4:logloss_change_pct"])
    # QSNR orders by mantissa bits on every seed's draw.
    order = ["mxint8", "mxfp8_e4m3", "mxfp8_e5m2"]
    for seed in range(2):
        qsnr = [measured[f"{name}:qsnr_db"][seed] for name in order]
        assert qsnr == sorted(qsnr, reverse=True)
    assert result.models["dlrm_mxfp6_e3m2_trained"]["format"] == "mxfp6_e3m2"
