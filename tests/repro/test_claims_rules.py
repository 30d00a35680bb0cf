"""Each rule of the claims engine on inputs whose outcome is worked out by hand in the comments.

Rules (repro/claims.py): too few seeds, degenerate models, zero spread, the t-tests, Holm's
adjustment across a run, the power analysis of inconclusive claims, and computed facts.
"""

from __future__ import annotations

import math

import pytest

from repro.claims import (INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, SEED_CAP, Claim, constant_counterpart,
                          count_underpowered, evaluate, evaluate_claims, evaluate_fact)


def rel(op: str = ">", lhs: str = "a:x", rhs: str = "b:x", **kw: object) -> Claim:
    return Claim(id=kw.pop("id", "c"), kind="relation", statement="s", source="Table 1", lhs=lhs, op=op, rhs=rhs,
                 **kw)  # type: ignore[arg-type]


def val(paper_value: float, tolerance: float, lhs: str = "a:x") -> Claim:
    return Claim(id="v", kind="value", statement="s", source="Table 1", lhs=lhs, paper_value=paper_value,
                 tolerance=tolerance)


# ---------------------------------------------------------------- too few seeds

def test_two_seeds_per_side_are_too_few() -> None:
    # Two seeds give df = 1 (Welch's df here is 1.7): the old engine called p = 0.014 significant.
    verdict = evaluate(rel(), {"a:x": [0.90, 0.91], "b:x": [0.80, 0.81]})
    assert verdict.status == INCONCLUSIVE and "at least 3" in verdict.reason and verdict.p_value is None
    assert evaluate(val(0.9, 0.1), {"a:x": [0.9, 0.9]}).status == INCONCLUSIVE


# ---------------------------------------------------------------- the t-tests, by hand

def test_welch_p_value_by_hand() -> None:
    # a = [3, 4, 5], b = [1, 2, 3]: difference 2, both variances 1, se = sqrt(1/3 + 1/3) = 0.8165,
    # t = 2 / 0.8165 = 2.4495 (t^2 = 6), Welch df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4.
    # Student t with 4 df: F(t) = 1/2 + 3/8 * t/sqrt(1 + t^2/4) * (1 - t^2 / (12 (1 + t^2/4)))
    # = 0.5 + 0.375 * (2.4495 / 1.5811) * (1 - 6/30) = 0.5 + 0.375 * 1.5492 * 0.8 = 0.96476: p = 0.03524.
    verdict = evaluate(rel(), {"a:x": [3.0, 4.0, 5.0], "b:x": [1.0, 2.0, 3.0]})
    assert verdict.status == REPRODUCED and verdict.test == "welch"
    assert verdict.p_value == pytest.approx(0.03524, abs=2e-5)
    assert verdict.p_adjusted == verdict.p_value  # a family of one is not adjusted
    assert "df=4.0" in verdict.reason


def test_paired_option_tests_the_per_seed_differences() -> None:
    # differences [0.1, 0.2, 0.1]: mean 0.1333, sd 0.05774, se 0.03333, t = 4, df = 2;
    # Student t with 2 df: F(t) = 1/2 + t / (2 sqrt(2 + t^2)) = 0.5 + 4 / (2 * 4.2426) = 0.97140: p = 0.02860.
    data = {"a:x": [1.0, 2.0, 3.0], "b:x": [0.9, 1.8, 2.9]}
    paired = evaluate(rel(paired=True), data)
    assert paired.status == REPRODUCED and paired.test == "paired"
    assert paired.p_value == pytest.approx(0.02860, abs=2e-5)
    # The same numbers unpaired: a spread of 1 per side swamps a difference of 0.13.
    assert evaluate(rel(), data).status == INCONCLUSIVE


def test_value_interval_by_hand() -> None:
    # [0.80, 0.81, 0.82]: mean 0.81, sd 0.01; t(0.975, 2) = 4.3027, half-width 4.3027 * 0.01 / sqrt(3)
    # = 0.02484: interval [0.7852, 0.8348], inside 0.81 ± 0.05 = [0.76, 0.86]; outside 0.95 ± 0.05.
    inside = evaluate(val(0.81, 0.05), {"a:x": [0.80, 0.81, 0.82]})
    assert inside.status == REPRODUCED
    assert inside.interval == pytest.approx((0.7852, 0.8348), abs=1e-4)
    assert evaluate(val(0.95, 0.05), {"a:x": [0.80, 0.81, 0.82]}).status == NOT_REPRODUCED
    # straddling the edge 0.80 (0.81 - 0.01): inconclusive
    assert evaluate(val(0.81, 0.01), {"a:x": [0.80, 0.81, 0.82]}).status == INCONCLUSIVE


# ---------------------------------------------------------------- zero spread

def test_zero_spread_is_compared_exactly_with_its_own_reason() -> None:
    # Identical on every seed: no t-test (its standard error is 0), an exact comparison.
    above = evaluate(rel(), {"a:x": [0.9] * 3, "b:x": [0.8] * 3})
    assert above.status == REPRODUCED and above.test == "exact" and "deterministic" in above.reason
    assert evaluate(rel(), {"a:x": [0.7] * 3, "b:x": [0.8] * 3}).status == NOT_REPRODUCED


def test_zero_spread_ties_are_ties() -> None:
    # +1e-12 on 0.5 is floating-point noise (relative 2e-12 < 1e-9): a tie, so "a > b" does not hold ...
    tiny = evaluate(rel(), {"a:x": [0.5 + 1e-12] * 3, "b:x": [0.5] * 3})
    assert tiny.status == NOT_REPRODUCED and "fails" in tiny.reason
    assert evaluate(rel(), {"a:x": [0.5] * 3, "b:x": [0.5] * 3}).status == NOT_REPRODUCED
    # ... while "a >= b" (non-inferiority) does, tie or not.
    assert evaluate(rel(">=", tolerance=0.0), {"a:x": [0.5] * 3, "b:x": [0.5 + 1e-12] * 3}).status == REPRODUCED
    # a value exactly on its band's edge (0.1389 + 0.005 = 0.1439) is inside
    assert evaluate(val(0.1389, 0.005), {"a:x": [0.1439] * 3}).status == REPRODUCED
    assert evaluate(val(0.1389, 0.005), {"a:x": [0.27] * 3}).status == NOT_REPRODUCED


# ---------------------------------------------------------------- Holm across a run

def test_holm_adjusts_across_the_runs_claims() -> None:
    # Claim 1 alone: p = 0.03524 (test_welch_p_value_by_hand) -> reproduced. Next to two null claims
    # (identical samples: t = 0, p = 0.5 each), Holm multiplies the smallest of 3 p-values by 3:
    # 3 * 0.03524 = 0.1057 > 0.05 -> inconclusive; the others: max(0.1057, 2 * 0.5) = 1, max(1, 0.5) = 1.
    data = {"a:x": [3.0, 4.0, 5.0], "b:x": [1.0, 2.0, 3.0], "c:x": [1.0, 2.0, 3.0]}
    claims = [rel(id="one"), rel(id="two", lhs="b:x", rhs="c:x"), rel(id="three", lhs="c:x", rhs="b:x")]
    verdicts = evaluate_claims(claims, data)
    assert [v.status for v in verdicts] == [INCONCLUSIVE] * 3
    assert verdicts[0].p_value == pytest.approx(0.03524, abs=2e-5)
    assert verdicts[0].p_adjusted == pytest.approx(3 * 0.03524, abs=6e-5)
    assert verdicts[1].p_adjusted == pytest.approx(1.0) and verdicts[2].p_adjusted == pytest.approx(1.0)
    assert verdicts[0].adjustment == {"method": "holm", "family_size": 3}
    assert "Holm-adjusted over 3 tests" in verdicts[0].reason
    # raw and adjusted p of both directions are kept
    assert set(verdicts[0].p_values) == {"for", "against", "for_adjusted", "against_adjusted"}


def test_claims_decided_without_a_test_are_outside_the_family() -> None:
    data = {"a:x": [3.0, 4.0, 5.0], "b:x": [1.0, 2.0, 3.0], "e:x": [1.0] * 3, "f:x": [0.0] * 3}
    verdicts = evaluate_claims([rel(id="t"), rel(id="exact", lhs="e:x", rhs="f:x"), rel(id="missing", rhs="z:x")],
                               data)
    assert verdicts[0].status == REPRODUCED and verdicts[0].adjustment == {"method": "holm", "family_size": 1}


# ---------------------------------------------------------------- power

def test_power_of_an_inconclusive_claim() -> None:
    # a = [1, 2, 3], b = [0.9, 1.9, 2.9]: difference 0.1, pooled sd exactly 1. Paper: 0.5 against 0.
    # Seeds per side for 80% power at one-sided 5% (normal approximation):
    # n = 2 (z_0.95 + z_0.8)^2 / d^2 = 2 (1.6449 + 0.8416)^2 / 0.5^2 = 2 * 6.1826 / 0.25 = 49.5;
    # the t distribution adds about one seed: 50-52.
    claim = rel(paper_lhs=0.5, paper_rhs=0.0)
    verdict = evaluate(claim, {"a:x": [1.0, 2.0, 3.0], "b:x": [0.9, 1.9, 2.9]})
    assert verdict.status == INCONCLUSIVE and verdict.power is not None
    assert verdict.power.spread == pytest.approx(1.0)
    assert verdict.power.paper_effect == pytest.approx(0.5)
    assert 50 <= (verdict.power.seeds_needed or 0) <= 52
    # MDE at 3 seeds: above the normal value (1.6449 + 0.8416) * sqrt(2/3) = 2.030 (only 4 df);
    # at the cap of 100 seeds: about 2.4865 * sqrt(2/100) = 0.352.
    assert verdict.power.mde > 2.03
    assert verdict.power.mde_at_cap == pytest.approx(0.352, abs=0.005)
    assert verdict.power.underpowered is False and not verdict.underpowered
    assert "needs" in verdict.reason and "seeds per side" in verdict.reason


def test_underpowered_at_this_scale() -> None:
    # Paper effect 0.05 at spread 1: n = 2 * 6.1826 / 0.05^2 = 4946 seeds > SEED_CAP = 100,
    # i.e. 0.05 < 0.352, the smallest effect 100 seeds resolve.
    claim = rel(paper_lhs=0.55, paper_rhs=0.5)
    verdicts = evaluate_claims([claim], {"a:x": [1.0, 2.0, 3.0], "b:x": [0.9, 1.9, 2.9]})
    assert verdicts[0].underpowered and verdicts[0].power is not None
    assert (verdicts[0].power.seeds_needed or 0) > SEED_CAP
    assert "underpowered at this scale" in verdicts[0].reason
    assert count_underpowered(verdicts) == 1 and count_underpowered([v.to_dict() for v in verdicts]) == 1


def test_non_inferiority_is_sized_by_its_tolerance() -> None:
    # No paper numbers: the effect to detect is the tolerance (true difference 0 against the margin).
    claim = rel(">=", tolerance=0.2)
    verdict = evaluate(claim, {"a:x": [1.0, 2.0, 3.0], "b:x": [0.9, 1.9, 2.9]})
    assert verdict.status == INCONCLUSIVE and verdict.power is not None
    assert verdict.power.paper_effect == pytest.approx(0.2)


# ---------------------------------------------------------------- degenerate models

def test_constant_counterparts() -> None:
    assert constant_counterpart("dlrm:final_test_accuracy") == ("dlrm:final_test_constant_accuracy", True)
    assert constant_counterpart("adatt_6:test_auc_income") == ("adatt_6:test_constant_auc_income", True)
    assert constant_counterpart("cf_md:test_mse") == ("cf_md:test_constant_mse", False)
    assert constant_counterpart("greedy:model_size_ratio") is None


def test_majority_class_accuracy_is_a_degenerate_model() -> None:
    # DLRM on the Criteo sample: accuracy 0.792 on every seed = the majority class (base rate 0.208).
    claim = val(0.789, 0.01, lhs="dlrm:final_test_accuracy")
    majority = {"dlrm:final_test_accuracy": [0.792] * 3, "dlrm:final_test_constant_accuracy": [0.792] * 3}
    verdict = evaluate(claim, majority)
    assert verdict.status == INCONCLUSIVE and verdict.reason.startswith("degenerate model")
    assert verdict.degenerate == ["dlrm:final_test_accuracy"]
    # Better than the constant on every seed: differences 0.010, 0.020, 0.015, mean 0.015, sd 0.005,
    # t = 0.015 / (0.005 / sqrt 3) = 5.196, df 2: p = 0.5 - 5.196 / (2 sqrt(2 + 27)) = 0.018 < 0.05, so judged:
    # interval 0.807 ± 4.3027 * 0.005 / sqrt 3 = [0.7946, 0.8194], inside 0.807 ± 0.02.
    learned = {"dlrm:final_test_accuracy": [0.802, 0.812, 0.807], "dlrm:final_test_constant_accuracy": [0.792] * 3}
    assert evaluate(val(0.807, 0.02, lhs="dlrm:final_test_accuracy"), learned).status == REPRODUCED


def test_lower_is_better_metrics_are_oriented() -> None:
    # log loss 0.472 against the label entropy 0.511: better than the constant, not degenerate.
    claim = rel("<", lhs="m:test_logloss", rhs="n:test_logloss")
    data = {"m:test_logloss": [0.470, 0.472, 0.474], "m:test_constant_logloss": [0.511] * 3,
            "n:test_logloss": [0.520, 0.515, 0.518], "n:test_constant_logloss": [0.511] * 3}
    verdict = evaluate(claim, data)
    assert verdict.status == INCONCLUSIVE and verdict.degenerate == ["n:test_logloss"]


# ---------------------------------------------------------------- computed facts

def test_facts_are_shown_never_judged() -> None:
    # 4-bit rows of width 64: 64 / 2 = 32 code bytes + 2 (FP16 scale) + 2 (FP16 bias) = 36 bytes
    # against 64 * 4 = 256: 36 / 256 = 0.140625, within 0.1389 ± 0.005.
    fact = Claim(id="size", kind="fact", statement="s", source="Abstract", lhs="greedy:embedding_size_ratio",
                 paper_value=0.1389, tolerance=0.005)
    shown = evaluate_fact(fact, {"greedy:embedding_size_ratio": [36 / 256] * 3})
    assert shown["value"] == pytest.approx(0.140625) and shown["agrees"] is True and shown["constant"] is True
    assert "not counted" in shown["text"]
    assert evaluate_claims([fact], {"greedy:embedding_size_ratio": [36 / 256] * 3}) == []
    with pytest.raises(ValueError, match="fact"):
        evaluate(fact, {})
    relation_fact = Claim(id="mem", kind="fact", statement="s", source="Abstract", lhs="cf:bytes", op="<",
                          rhs="ada:bytes")
    shown = evaluate_fact(relation_fact, {"cf:bytes": [100.0] * 3, "ada:bytes": [1600.0] * 3})
    assert shown["agrees"] is True and "ratio 0.0625" in shown["text"]
    assert evaluate_fact(relation_fact, {})["value"] is None


def test_paper_effect() -> None:
    assert rel(paper_lhs=0.9202, paper_rhs=0.9164).paper_effect() == pytest.approx(0.0038)
    assert rel("<", paper_lhs=0.45, paper_rhs=0.46).paper_effect() == pytest.approx(0.01)
    assert rel().paper_effect() is None
    assert val(0.8, 0.01).paper_effect() == pytest.approx(0.01)
    assert math.isclose(rel("<=", tolerance=0.002).paper_effect() or 0, 0.002)


def test_power_survives_statsmodels_nan_in_the_far_tail() -> None:
    # statsmodels' noncentral t power is NaN at effect 13 sd with 10 seeds (one-sided 2.5%); there the
    # normal approximation stands in: z = 13 sqrt(10) - 1.96 = 39.2, power 1. So an inconclusive value
    # claim with spread 0.001 and tolerance 0.013 still gets its power analysis: 3 seeds suffice.
    from statsmodels.stats.power import TTestPower

    from repro.claims import _finite_power

    raw = TTestPower().power(effect_size=13, nobs=10, alpha=0.025, alternative="larger")
    assert _finite_power(raw, 13.0, 10.0, 0.025) == pytest.approx(1.0)
    # interval [0.7870, 0.7920] straddles the band's lower edge 0.79 = 0.803 - 0.013: inconclusive
    verdict = evaluate(val(0.803, 0.013), {"a:x": [0.7885, 0.7905, 0.7895]})
    assert verdict.status == INCONCLUSIVE and verdict.power is not None
    assert verdict.power.seeds_needed == 3 and verdict.power.underpowered is False
