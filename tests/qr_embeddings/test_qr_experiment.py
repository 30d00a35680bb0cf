"""The qr-embeddings smoke profile runs end to end through experiment.run and gives every claim its quantities."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import torch

from repro.claims import evaluate
from repro.harness.experiment import ExperimentContext
from repro.registry import get_paper


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Small-batch CPU training is several times faster on one thread on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_smoke_profile_measures_every_claim(tmp_path: Path) -> None:
    paper = get_paper("qr-embeddings")
    profile = paper.profiles["smoke"]
    ctx = ExperimentContext(paper_id=paper.id, profile="smoke", seeds=[0, 1], device="cpu", data_dir=tmp_path,
                            work_dir=tmp_path / "work", params=profile.params)
    result = paper.experiment()(ctx)
    measured = result.measurements()
    assert {run.model for run in result.runs} == set(profile.params["models"])
    for claim in paper.claims:
        assert all(len(measured[q]) == 2 for q in claim.quantities()), claim.id
        assert evaluate(claim, measured).status in ("reproduced", "not reproduced", "inconclusive")
    ratio = measured["qr_mult_4:bytes_vs_full"][0]
    assert 0.2 < ratio < 0.5
    assert measured["qr_mult_60:embedding_bytes"][0] < measured["hashing_4:embedding_bytes"][0]
