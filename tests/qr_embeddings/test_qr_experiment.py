"""The qr-embeddings smoke profile runs DLRM and DCN end to end through experiment.run and gives every claim its quantities."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from repro.claims import evaluate_claims
from harness.errors import ConfigError
from papers.qr_embeddings.experiment import architectures
from papers.qr_embeddings.params import Params


@pytest.mark.slow
def test_smoke_profile_measures_every_claim(smoke_run: Callable[..., tuple[Any, Any]]) -> None:
    paper, result = smoke_run("qr-embeddings")
    measured = result.measurements()
    params = paper.parse_params(paper.profiles["smoke"].params)
    assert params.architectures == ("dlrm", "dcn")
    assert {run.model for run in result.runs} == {f"{a}_{m}" for a in params.architectures for m in params.models}
    assert {claim.lhs.split("_")[0] for claim in paper.claims} == {"dlrm", "dcn"}
    for claim in paper.claims:
        assert all(len(measured[q]) == 2 for q in claim.quantities()), claim.id
    for verdict in evaluate_claims(paper.claims, measured):
        assert verdict.status in ("reproduced", "not reproduced", "inconclusive")
    for arch in params.architectures:
        ratio = measured[f"{arch}_qr_mult_4:bytes_vs_full"][0]
        assert 0.2 < ratio < 0.5
        assert measured[f"{arch}_qr_mult_60:embedding_bytes"][0] < measured[f"{arch}_hashing_4:embedding_bytes"][0]
    # the same tables in both architectures; only the model around them differs
    assert measured["dcn_qr_mult_4:embedding_bytes"] == measured["dlrm_qr_mult_4:embedding_bytes"]
    assert measured["dcn_full:model_bytes"] != measured["dlrm_full:model_bytes"]


def test_unknown_architecture_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown architecture"):
        architectures(Params(architectures=("dlrm", "wukong")))
