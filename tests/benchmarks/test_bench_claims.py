"""Claim evaluation over a large result set: gathering per-seed quantities and deciding every claim.

A sweep paper (e.g. the QR or mixed-dimension embedding papers) measures many models x seeds x
metrics and states hundreds of relations between them; the runner gathers the measurements
once and evaluates each claim (Welch's t-test or a t-interval, see repro.claims).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from repro.claims import Claim, evaluate
from harness.experiment import ExperimentResult, SeedRun

MODELS, SEEDS, METRICS = 40, 5, 30
CLAIMS = 1_000


def large_result(seed: int = 0) -> ExperimentResult:
    """`MODELS` x `SEEDS` runs with `METRICS` AUC-like metrics each."""
    rng = np.random.default_rng(seed)
    runs = [SeedRun(model=f"m{m}", seed=s,
                    metrics={f"auc{k}": float(0.78 + 0.001 * m + rng.normal(0, 0.002)) for k in range(METRICS)})
            for m, s in itertools.product(range(MODELS), range(SEEDS))]
    return ExperimentResult(runs=runs, dataset={})


def many_claims(seed: int = 0) -> list[Claim]:
    """`CLAIMS` claims cycling through superiority, non-inferiority and value checks."""
    rng = np.random.default_rng(seed)
    claims = []
    for i in range(CLAIMS):
        a, b, k = rng.integers(0, MODELS), rng.integers(0, MODELS), rng.integers(0, METRICS)
        lhs, rhs = f"m{a}:auc{k}", f"m{b}:auc{k}"
        kind = i % 3
        if kind == 0:
            claims.append(Claim(id=f"c{i}", kind="relation", statement="", source="Table 1", lhs=lhs, op=">", rhs=rhs))
        elif kind == 1:
            claims.append(Claim(id=f"c{i}", kind="relation", statement="", source="Table 1", lhs=lhs, op=">=",
                                rhs=rhs, tolerance=0.001))
        else:
            claims.append(Claim(id=f"c{i}", kind="value", statement="", source="Table 1", lhs=lhs,
                                paper_value=0.8, tolerance=0.01))
    return claims


@pytest.mark.benchmark(group="claims")
def test_gather_and_evaluate(benchmark) -> None:
    """Gather 60k per-seed values into quantities, then decide 1,000 claims."""
    result, claims = large_result(), many_claims()

    def decide() -> list[str]:
        measurements = result.measurements()
        return [evaluate(claim, measurements).status for claim in claims]

    statuses = benchmark(decide)
    assert len(statuses) == CLAIMS
    assert {"reproduced", "not reproduced"} <= set(statuses)
