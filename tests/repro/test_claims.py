"""The claims engine: every verdict, from runs' numbers only."""

from __future__ import annotations

import math

import pytest

from repro.claims import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Claim, Summary, count_statuses, evaluate


def relation(op: str = ">", tolerance: float = 0.0) -> Claim:
    return Claim(id="c", kind="relation", statement="A beats B", source="Table 5", lhs="a:auc", op=op,
                 rhs="b:auc", paper_lhs=0.88, paper_rhs=0.87, tolerance=tolerance)


def value(paper_value: float = 0.80, tolerance: float = 0.01) -> Claim:
    return Claim(id="v", kind="value", statement="A reaches 0.80", source="Fig. 5", lhs="a:auc",
                 paper_value=paper_value, tolerance=tolerance)


A_HIGH = [0.880, 0.882, 0.881, 0.879, 0.883]
B_LOW = [0.870, 0.871, 0.869, 0.872, 0.870]
B_SAME = [0.881, 0.879, 0.882, 0.880, 0.881]


def test_relation_reproduced_when_significantly_in_the_claimed_direction() -> None:
    verdict = evaluate(relation(), {"a:auc": A_HIGH, "b:auc": B_LOW})
    assert verdict.status == REPRODUCED
    assert verdict.p_value is not None and verdict.p_value < 0.05
    assert "Welch" in verdict.reason


def test_relation_not_reproduced_when_significantly_against() -> None:
    verdict = evaluate(relation(), {"a:auc": B_LOW, "b:auc": A_HIGH})
    assert verdict.status == NOT_REPRODUCED
    assert "against the claim" in verdict.reason


def test_relation_inconclusive_when_the_difference_is_noise() -> None:
    verdict = evaluate(relation(), {"a:auc": A_HIGH, "b:auc": B_SAME})
    assert verdict.status == INCONCLUSIVE
    assert "not significant" in verdict.reason


def test_less_than_relation_is_oriented() -> None:
    assert evaluate(relation("<"), {"a:auc": B_LOW, "b:auc": A_HIGH}).status == REPRODUCED


def test_non_inferiority_within_tolerance() -> None:
    claim = relation(">=", tolerance=0.005)
    assert evaluate(claim, {"a:auc": B_SAME, "b:auc": A_HIGH}).status == REPRODUCED
    assert evaluate(claim, {"a:auc": B_LOW, "b:auc": A_HIGH}).status == NOT_REPRODUCED


def test_value_claim_inside_outside_and_straddling_the_band() -> None:
    inside = [0.800, 0.801, 0.799, 0.800]
    outside = [0.850, 0.851, 0.849, 0.850]
    straddle = [0.805, 0.815, 0.795, 0.812]
    assert evaluate(value(), {"a:auc": inside}).status == REPRODUCED
    assert evaluate(value(), {"a:auc": outside}).status == NOT_REPRODUCED
    assert evaluate(value(), {"a:auc": straddle}).status == INCONCLUSIVE


def test_missing_quantity_is_inconclusive_and_named() -> None:
    verdict = evaluate(relation(), {"a:auc": A_HIGH})
    assert verdict.status == INCONCLUSIVE
    assert "b:auc" in verdict.reason


def test_single_seed_is_inconclusive() -> None:
    assert evaluate(relation(), {"a:auc": [0.9], "b:auc": [0.1]}).status == INCONCLUSIVE
    assert evaluate(value(), {"a:auc": [0.8]}).status == INCONCLUSIVE


def test_summary_and_counts() -> None:
    s = Summary.of([1.0, 2.0, 3.0])
    assert s.mean == pytest.approx(2.0) and s.std == pytest.approx(1.0) and s.n == 3
    assert math.isnan(Summary.of([1.0]).std)
    verdicts = [evaluate(relation(), {"a:auc": A_HIGH, "b:auc": B_LOW}), evaluate(relation(), {})]
    assert count_statuses(verdicts) == {REPRODUCED: 1, NOT_REPRODUCED: 0, INCONCLUSIVE: 1}
