"""Claims, their verdicts, and the computed facts shown beside them.

A claim cites a table or figure of the paper and is one of three kinds:

* ``relation``: a measured quantity against another, e.g. ``adatt_6:auc_task1 > ple_6:auc_task1``.
  ``>`` / ``<`` claim superiority: a one-sided t-test of the difference at level `alpha`
  (Welch's, ``scipy.stats.ttest_ind``; with ``paired = true`` the paired test over seeds,
  ``scipy.stats.ttest_rel``). ``>=`` / ``<=`` claim non-inferiority within `tolerance`: the same
  test of ``difference > -tolerance``, i.e. the one-sided ``1 - alpha`` confidence bound.
* ``value``: a measured quantity against the paper's number within an absolute `tolerance`: the
  two-sided ``1 - alpha`` t-interval of the mean (``scipy.stats.ttest_1samp``) against the band.
* ``fact``: a quantity that follows from the configuration (bytes per row, parameter counts,
  optimizer state). It is computed and shown beside the claims, never judged: passing by
  construction is not evidence (:func:`evaluate_fact`).

Rules a reviewer can check, in the order they apply:

1. A quantity the run did not measure: *inconclusive*, named.
2. Fewer than :data:`MIN_SEEDS` seeds on a side: *inconclusive* (a t-test on two values has one
   degree of freedom and no useful spread estimate).
3. Degenerate model: a quantity whose constant-predictor counterpart was measured on the same
   rows (``test_accuracy`` -> ``test_constant_accuracy``, see :func:`constant_counterpart`) and
   that is not better than the constant predictor beyond seed noise (paired one-sided t-test at
   `alpha`) makes the claim *inconclusive: degenerate model*.
4. Zero spread (deterministic quantities, identical on every seed): compared exactly, with their
   own reason text; a difference within floating-point noise (:data:`EXACT_RTOL`) is a tie.
5. Otherwise the tests above. Across a run's claims the p-values are adjusted for multiple
   comparisons with Holm's method (``statsmodels.stats.multitest.multipletests``), separately for
   the "reproduced" direction and the "not reproduced" direction; the verdict uses the adjusted
   p-values and the record keeps both.
6. Every *inconclusive* test gets a power analysis (``statsmodels.stats.power``): the minimum
   effect detectable with 80% power at this run's seeds and spread, the seeds per side needed to
   detect the paper's effect (its claimed difference, else the tolerance), and the flag
   *underpowered at this scale* when even :data:`SEED_CAP` seeds could not resolve it.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower, TTestPower

Status = Literal["reproduced", "not reproduced", "inconclusive"]
REPRODUCED: Status = "reproduced"
NOT_REPRODUCED: Status = "not reproduced"
INCONCLUSIVE: Status = "inconclusive"

RELATION_OPS = (">", "<", ">=", "<=")
KINDS = ("relation", "value", "fact")
MIN_SEEDS = 3  # per side; below it a t-test has too few degrees of freedom to mean anything
MULTIPLE_TESTING = "holm"  # statsmodels multipletests method applied across a run's claims
TARGET_POWER = 0.8
SEED_CAP = 100  # the most seeds a profile declares (AdaTT's full profile: the paper's 100 initialisations)
EXACT_RTOL = 1e-9  # zero-spread quantities closer than this (relative) are a tie: floating-point noise

_CONSTANT_METRIC = re.compile(r"^(?P<pre>(?:final_)?(?:train|val|test)_)(?P<metric>auc|logloss|ne|accuracy|mse|rmse|mae)"
                              r"(?P<post>_.+)?$")
HIGHER_IS_BETTER_METRICS = ("auc", "accuracy")


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a paper, as declared in its ``paper.toml``.

    `source` cites the paper ("Table 5"); `transferred` marks a claim carried over from the
    paper's internal data to public data (the paper's number is then context, not a target);
    `paired` compares the two sides seed by seed (the same trained model or the same data per seed).
    """

    id: str
    kind: Literal["relation", "value", "fact"]
    statement: str
    source: str
    lhs: str
    op: str = ">"
    rhs: str | None = None
    paper_lhs: float | None = None
    paper_rhs: float | None = None
    paper_value: float | None = None
    tolerance: float = 0.0
    alpha: float = 0.05
    transferred: bool = False
    higher_is_better: bool = True
    paired: bool = False

    def quantities(self) -> list[str]:
        """The measured quantities this claim needs."""
        return [self.lhs] + ([self.rhs] if self.rhs else [])

    def paper_figure(self) -> str:
        """The paper's side of the claim, as a short text for tables."""
        if self.paper_value is not None:
            return f"{self.paper_value:g} ± {self.tolerance:g}" if self.kind == "value" else f"{self.paper_value:g}"
        if self.paper_lhs is not None and self.paper_rhs is not None:
            return f"{self.paper_lhs:g} {self.op} {self.paper_rhs:g}"
        return f"{self.op}" if self.rhs else "—"

    def paper_effect(self) -> float | None:
        """The effect the paper claims, oriented so that "the claim holds" is positive.

        Relations: the paper's difference (if it gives both numbers) plus the tolerance; without
        numbers, the tolerance alone. Values: the tolerance (the distance from the paper's value to
        the edge of its band). None when there is nothing to size a test against.
        """
        if self.kind == "value":
            return self.tolerance if self.tolerance > 0 else None
        if self.paper_lhs is not None and self.paper_rhs is not None:
            effect = _sign(self.op) * (self.paper_lhs - self.paper_rhs) + self.tolerance
            return effect if effect > 0 else None
        return self.tolerance if self.tolerance > 0 else None


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and count of one quantity over seeds."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> "Summary":
        """Summarise `values` (std is NaN for a single value)."""
        arr = np.asarray(values, dtype=np.float64)
        std = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
        return cls(mean=float(arr.mean()), std=std, n=int(arr.size))

    def text(self, digits: int = 4) -> str:
        """``mean ± std (n=…)``."""
        if self.n < 2:
            return f"{self.mean:.{digits}f} (n={self.n})"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f} (n={self.n})"


@dataclass(frozen=True)
class Power:
    """What more seeds could do for an inconclusive claim (80% power, one-sided level `alpha`).

    `mde`: the smallest true effect this run's seeds detect with `power` at the observed spread;
    `mde_at_cap`: the same with :data:`SEED_CAP` seeds per side; `paper_effect`: the effect the
    paper claims (see :meth:`Claim.paper_effect`); `seeds_needed`: seeds per side to detect it
    (None without a paper effect; capped reports use ``> SEED_CAP``); `underpowered`: the paper's
    effect is below `mde_at_cap` (None when there is no paper effect to compare).
    """

    test: str
    alpha: float
    power: float
    spread: float
    mde: float
    mde_at_cap: float
    paper_effect: float | None
    seeds_needed: int | None
    underpowered: bool | None

    def text(self) -> str:
        """One sentence for the reason column."""
        words = f"detectable at this run's seeds: effects ≥ {self.mde:.4g}"
        if self.paper_effect is None:
            return words + " (the paper gives no effect size to plan seeds for)"
        if self.underpowered:
            return (f"underpowered at this scale: the paper's effect {self.paper_effect:.4g} is below "
                    f"{self.mde_at_cap:.4g}, the smallest effect {SEED_CAP} seeds per side resolve at this spread")
        return f"{words}; the paper's effect {self.paper_effect:.4g} needs {self.seeds_needed} seeds per side"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim on one run.

    `p_value` / `p_adjusted`: the raw and multiplicity-adjusted p-value of the direction that
    decided (or of the claimed direction when nothing did); `p_values` holds both directions,
    raw and adjusted; `adjustment` the method and family size; `test` the statistic used
    (``welch``, ``paired``, ``one-sample``, ``exact`` for zero spread, None when nothing was
    tested); `degenerate` the quantities no better than a constant predictor.
    """

    claim_id: str
    status: Status
    reason: str
    statement: str
    source: str
    paper: str
    ours: str
    transferred: bool
    lhs: Summary | None = None
    rhs: Summary | None = None
    p_value: float | None = None
    interval: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    p_adjusted: float | None = None
    p_values: dict[str, float | None] = field(default_factory=dict)
    adjustment: dict[str, Any] | None = None
    test: str | None = None
    power: Power | None = None
    underpowered: bool = False
    degenerate: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for the run record."""
        return asdict(self)


@dataclass
class _Tested:
    """A claim whose test ran; its verdict waits for the multiplicity adjustment across the run."""

    claim: Claim
    ours: str
    lhs: Summary
    rhs: Summary | None
    test: str
    p_for: float
    p_against: float
    interval: tuple[float, float]
    description: str
    power: Callable[[], Power]  # computed only for a claim that ends inconclusive
    extra: dict[str, Any]


# ---------------------------------------------------------------- public entry points

def evaluate_claims(claims: list[Claim] | tuple[Claim, ...], measurements: dict[str, list[float]],
                    method: str = MULTIPLE_TESTING) -> list[Verdict]:
    """The verdict of every non-fact claim of a run, p-values adjusted across the run with `method`.

    The family is the run's claims that reached a test (rules 1-4 of the module doc decide the
    rest without a p-value); the "reproduced" p-values and the "not reproduced" p-values are each
    adjusted over that family.
    """
    assessed = [_assess(c, measurements) for c in claims if c.kind != "fact"]
    tested = [a for a in assessed if isinstance(a, _Tested)]
    adjusted_for = _adjust([t.p_for for t in tested], method)
    adjusted_against = _adjust([t.p_against for t in tested], method)
    adjustment = {"method": method, "family_size": len(tested)}
    decided = iter(zip(tested, adjusted_for, adjusted_against))
    return [_decide(*next(decided), adjustment) if isinstance(a, _Tested) else a for a in assessed]


def evaluate(claim: Claim, measurements: dict[str, list[float]]) -> Verdict:
    """Decide one `claim` on its own (a family of one: no multiplicity adjustment)."""
    if claim.kind == "fact":
        raise ValueError(f"claim {claim.id!r} is a computed fact, not judged: use evaluate_fact")
    return evaluate_claims([claim], measurements)[0]


def evaluate_fact(claim: Claim, measurements: dict[str, list[float]]) -> dict[str, Any]:
    """A computed fact as shown beside the claims: its value, the paper's figure, whether they agree.

    Never a verdict: the quantity follows from configuration arithmetic, so it agreeing with the
    paper shows that the configuration is the paper's, not that a result reproduces.
    """
    values = [measurements.get(q) or [] for q in claim.quantities()]
    base = {"claim_id": claim.id, "statement": claim.statement, "source": claim.source,
            "paper": claim.paper_figure(), "transferred": claim.transferred}
    if not all(values):
        missing = [q for q, v in zip(claim.quantities(), values) if not v]
        return {**base, "value": None, "agrees": None, "constant": None, "ours": "—",
                "text": f"not computed by this run: {', '.join(missing)}"}
    lhs = Summary.of(values[0])
    constant = all(np.ptp(v) == 0 for v in values)
    spread = "identical on every seed" if constant else f"varies over seeds (std {lhs.std:.3g})"
    if claim.rhs:
        rhs = Summary.of(values[1])
        agrees: bool | None = _holds_exactly(claim.op, lhs.mean, rhs.mean, claim.tolerance)
        ratio = f", ratio {lhs.mean / rhs.mean:.4g}" if rhs.mean else ""
        ours = f"{lhs.mean:.6g} {claim.op} {rhs.mean:.6g}"
        text = f"computed {lhs.mean:.6g} against {rhs.mean:.6g}{ratio} ({spread}): the relation " + \
               ("holds" if agrees else "does not hold")
    else:
        ours = f"{lhs.mean:.6g}"
        agrees = None if claim.paper_value is None else abs(lhs.mean - claim.paper_value) <= claim.tolerance * (1 + EXACT_RTOL)
        text = f"computed {lhs.mean:.6g} ({spread})"
        if agrees is not None:
            text += f"; the paper's {claim.paper_figure()}: " + ("agrees" if agrees else "differs")
    text += "; configuration arithmetic, shown as a fact, not counted as evidence"
    return {**base, "value": lhs.mean, "agrees": agrees, "constant": constant, "ours": ours, "text": text}


def constant_counterpart(quantity: str) -> tuple[str, bool] | None:
    """The constant predictor's version of a metric quantity and whether higher is better.

    ``dlrm:final_test_accuracy`` -> ``("dlrm:final_test_constant_accuracy", True)``;
    ``adatt_6:test_auc_income`` -> ``("adatt_6:test_constant_auc_income", True)``; None for a
    quantity that is not an evaluation metric (bytes, ratios, changes).
    """
    model, _, name = quantity.partition(":")
    match = _CONSTANT_METRIC.match(name)
    if not match:
        return None
    metric = match["metric"]
    return f"{model}:{match['pre']}constant_{metric}{match['post'] or ''}", metric in HIGHER_IS_BETTER_METRICS


def count_statuses(verdicts: list[dict[str, Any]] | list[Verdict]) -> dict[str, int]:
    """Count verdicts per status, in the fixed order reproduced / not reproduced / inconclusive."""
    counts: dict[str, int] = {REPRODUCED: 0, NOT_REPRODUCED: 0, INCONCLUSIVE: 0}
    for v in verdicts:
        status = v["status"] if isinstance(v, dict) else v.status
        counts[status] += 1
    return counts


def count_underpowered(verdicts: list[dict[str, Any]] | list[Verdict]) -> int:
    """How many verdicts are inconclusive because the run is underpowered at this scale."""
    return sum(bool(v.get("underpowered") if isinstance(v, dict) else v.underpowered) for v in verdicts)


# ---------------------------------------------------------------- the rules

def _verdict(claim: Claim, status: Status, reason: str, ours: str, **kw: Any) -> Verdict:
    return Verdict(claim_id=claim.id, status=status, reason=reason, statement=claim.statement,
                   source=claim.source, paper=claim.paper_figure(), ours=ours,
                   transferred=claim.transferred, **kw)


def _assess(claim: Claim, measurements: dict[str, list[float]]) -> Verdict | _Tested:
    """Rules 1-4 (a final verdict) or the test of rule 5 (decided after the adjustment)."""
    missing = [q for q in claim.quantities() if not measurements.get(q)]
    if missing:
        return _verdict(claim, INCONCLUSIVE, f"not measured by this run: {', '.join(missing)}", ours="—")
    lhs_values = measurements[claim.lhs]
    rhs_values = measurements[claim.rhs] if claim.rhs else None
    lhs = Summary.of(lhs_values)
    rhs = Summary.of(rhs_values) if rhs_values is not None else None
    ours = lhs.text() if rhs is None else f"{lhs.text()} {claim.op} {rhs.text()}"
    sides = dict(lhs=lhs, rhs=rhs)
    fewest = min(s.n for s in (lhs, rhs) if s is not None)
    if fewest < MIN_SEEDS:
        return _verdict(claim, INCONCLUSIVE, f"{fewest} seed{'s' if fewest != 1 else ''} per side: a test needs at "
                        f"least {MIN_SEEDS}; run with --seeds {MIN_SEEDS} or more", ours, **sides)
    degenerate = _degenerate(claim, measurements)
    if degenerate:
        return _verdict(claim, INCONCLUSIVE, "degenerate model: " + "; ".join(degenerate.values()), ours,
                        degenerate=list(degenerate), **sides)
    if claim.kind == "value":
        return _assess_value(claim, lhs_values, lhs, ours)
    if claim.paired and len(lhs_values) != len(rhs_values or []):
        return _verdict(claim, INCONCLUSIVE, f"a paired claim needs the same seeds on both sides "
                        f"({lhs.n} against {rhs.n if rhs else 0})", ours, **sides)
    return _assess_relation(claim, lhs_values, rhs_values or [], lhs, rhs, ours)  # type: ignore[arg-type]


def _degenerate(claim: Claim, measurements: dict[str, list[float]]) -> dict[str, str]:
    """Quantities of `claim` that are no better than the constant predictor on the same rows (rule 3)."""
    found: dict[str, str] = {}
    for quantity in claim.quantities():
        counterpart = constant_counterpart(quantity)
        if counterpart is None or not measurements.get(counterpart[0]):
            continue
        name, higher = counterpart
        model, constant = np.asarray(measurements[quantity]), np.asarray(measurements[name])
        if model.size != constant.size:
            continue
        better = (model - constant) if higher else (constant - model)
        if np.ptp(better) == 0:
            beats = better[0] > EXACT_RTOL * max(abs(float(constant.mean())), 1e-12)
        else:
            beats = bool(stats.ttest_1samp(better, 0.0, alternative="greater").pvalue < claim.alpha)
        if not beats:
            found[quantity] = (f"{quantity} {model.mean():.4f} is no better than a constant predictor's "
                               f"{constant.mean():.4f} on the same rows (paired over {model.size} seeds)")
    return found


def _assess_value(claim: Claim, values: list[float], ours: Summary, text: str) -> Verdict | _Tested:
    """Rule 4 or 5 for a value claim: the mean against ``paper_value ± tolerance``."""
    assert claim.paper_value is not None
    low_ok, high_ok = claim.paper_value - claim.tolerance, claim.paper_value + claim.tolerance
    band = f"[{low_ok:.4f}, {high_ok:.4f}]"
    if np.ptp(values) == 0:
        inside = _at_least(ours.mean, low_ok) and _at_least(high_ok, ours.mean)
        reason = (f"deterministic: {ours.mean:.6g} on every seed (zero spread), compared exactly: "
                  + ("inside" if inside else "outside") + f" the paper's band {band}")
        return _verdict(claim, REPRODUCED if inside else NOT_REPRODUCED, reason, text, lhs=ours, test="exact",
                        interval=(ours.mean, ours.mean))
    arr = np.asarray(values, dtype=np.float64)
    test = stats.ttest_1samp(arr, claim.paper_value)
    ci = test.confidence_interval(1 - claim.alpha)
    p_above_low = float(stats.ttest_1samp(arr, low_ok, alternative="greater").pvalue)
    p_below_high = float(stats.ttest_1samp(arr, high_ok, alternative="less").pvalue)
    p_below_low = float(stats.ttest_1samp(arr, low_ok, alternative="less").pvalue)
    p_above_high = float(stats.ttest_1samp(arr, high_ok, alternative="greater").pvalue)
    # Inside the band at two-sided 1 - alpha <=> both one-sided tests at alpha / 2 (TOST).
    p_for = min(1.0, 2 * max(p_above_low, p_below_high))
    p_against = min(1.0, 2 * min(p_below_low, p_above_high))
    description = (f"{100 * (1 - claim.alpha):g}% interval [{ci.low:.4f}, {ci.high:.4f}] (t, df={ours.n - 1}) "
                   f"against the paper's band {band}")
    return _Tested(claim, text, ours, None, "one-sample", p_for, p_against, (float(ci.low), float(ci.high)),
                   description, lambda: _power_one_sample(claim, ours.std, ours.n, claim.alpha / 2, "one-sample"), {})


def _assess_relation(claim: Claim, lhs_values: list[float], rhs_values: list[float], lhs: Summary, rhs: Summary,
                     ours: str) -> Verdict | _Tested:
    """Rule 4 or 5 for a relation: the oriented difference ``a - b`` against ``-tolerance``."""
    a, b = (lhs_values, rhs_values) if _sign(claim.op) > 0 else (rhs_values, lhs_values)
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    delta = float(a_arr.mean() - b_arr.mean())
    exact_spread = np.ptp(a_arr - b_arr) == 0 if claim.paired else (np.ptp(a_arr) == 0 and np.ptp(b_arr) == 0)
    if exact_spread:
        holds = _holds_exactly(claim.op, lhs.mean, rhs.mean, claim.tolerance)
        what = "the difference is the same on every seed" if claim.paired else "both sides are identical on every seed"
        reason = (f"deterministic: {what} (zero spread), compared exactly: difference {delta:+.6g} "
                  + ("meets" if holds else "fails") + f" the claim {claim.op}"
                  + (f" within tolerance {claim.tolerance:g}" if claim.tolerance else ""))
        return _verdict(claim, REPRODUCED if holds else NOT_REPRODUCED, reason, ours, lhs=lhs, rhs=rhs,
                        test="exact", extra={"difference": delta})
    tol = claim.tolerance
    name = "paired" if claim.paired else "welch"
    greater, less = _ttest(a_arr + tol, b_arr, claim.paired, "greater"), _ttest(a_arr + tol, b_arr, claim.paired, "less")
    lower = float(_ttest(a_arr, b_arr, claim.paired, "greater").confidence_interval(1 - claim.alpha).low)
    upper = float(_ttest(a_arr, b_arr, claim.paired, "less").confidence_interval(1 - claim.alpha).high)
    label = "paired t" if claim.paired else "Welch's t"
    target = f"> {-tol:+g}" if tol else "> 0"
    description = (f"difference {delta:+.4f} in the claimed direction ({label}, df={float(greater.df):.1f}; "
                   f"one-sided {100 * (1 - claim.alpha):g}% bounds [{lower:+.4f}, {upper:+.4f}], claim: difference {target})")
    if claim.paired:
        spread = float(np.std(a_arr - b_arr, ddof=1))
        power = lambda: _power_one_sample(claim, spread, int(a_arr.size), claim.alpha, "paired")  # noqa: E731
    else:
        power = lambda: _power_two_sample(claim, lhs, rhs)  # noqa: E731
    return _Tested(claim, ours, lhs, rhs, name, float(greater.pvalue), float(less.pvalue), (lower, upper),
                   description, power, {"difference": delta})


def _decide(t: _Tested, p_for_adj: float, p_against_adj: float, adjustment: dict[str, Any]) -> Verdict:
    """Rule 5's verdict from the adjusted p-values; rule 6's power analysis when inconclusive."""
    alpha, m = t.claim.alpha, adjustment["family_size"]

    def p_text(raw: float, adj: float) -> str:
        return f"p={raw:.3g}" + (f", Holm-adjusted over {m} tests: {adj:.3g}," if m > 1 else "")

    power = None
    underpowered = False
    if p_for_adj < alpha:
        status, p, p_adj = REPRODUCED, t.p_for, p_for_adj
        reason = f"{t.description}: {p_text(p, p_adj)} < {alpha:g}"
    elif p_against_adj < alpha:
        status, p, p_adj = NOT_REPRODUCED, t.p_against, p_against_adj
        reason = f"{t.description}: significantly against the claim, {p_text(p, p_adj)} < {alpha:g}"
    else:
        status, p, p_adj = INCONCLUSIVE, t.p_for, p_for_adj
        power = t.power()
        underpowered = bool(power.underpowered)
        reason = f"{t.description}: not significant either way, {p_text(p, p_adj).rstrip(',')}; {power.text()}"
    return _verdict(t.claim, status, reason, t.ours, lhs=t.lhs, rhs=t.rhs, p_value=p, interval=t.interval,
                    extra=t.extra, p_adjusted=p_adj, test=t.test, power=power, underpowered=underpowered,
                    adjustment=adjustment,
                    p_values={"for": t.p_for, "against": t.p_against, "for_adjusted": p_for_adj,
                              "against_adjusted": p_against_adj})


# ---------------------------------------------------------------- statistics helpers

def _sign(op: str) -> float:
    """+1 when the claim says the left side is larger, -1 when smaller."""
    return 1.0 if op in (">", ">=") else -1.0


def _ttest(a: np.ndarray, b: np.ndarray, paired: bool, alternative: str) -> Any:
    """scipy's paired or Welch two-sample t-test of ``a - b`` (its result has ``confidence_interval``)."""
    if paired:
        return stats.ttest_rel(a, b, alternative=alternative)
    return stats.ttest_ind(a, b, equal_var=False, alternative=alternative)


def _adjust(p_values: list[float], method: str) -> list[float]:
    """Multiplicity-adjusted p-values (statsmodels); one or no test is left as it is."""
    if len(p_values) < 2:
        return list(p_values)
    return [float(p) for p in multipletests(p_values, method=method)[1]]


def _at_least(x: float, bound: float) -> bool:
    """``x >= bound`` up to floating-point noise."""
    return x >= bound or math.isclose(x, bound, rel_tol=EXACT_RTOL, abs_tol=1e-15)


def _holds_exactly(op: str, lhs: float, rhs: float, tolerance: float) -> bool:
    """Whether a relation holds between exact (zero-spread) values; a tie within noise is not ``>``."""
    a, b = (lhs, rhs) if _sign(op) > 0 else (rhs, lhs)
    tie = math.isclose(a, b, rel_tol=EXACT_RTOL, abs_tol=1e-15)
    if op in (">", "<"):
        return a > b and not tie
    return tie or _at_least(a - b, -tolerance)


def _smallest(power_at: Callable[[float], float], low: float, high: float, integer: bool = False) -> float | None:
    """The smallest x in [low, high] with ``power_at(x) >= TARGET_POWER`` (power grows with x), or None.

    Bisection (integers with `integer`), so a flat or noisy stretch of the power curve cannot stall it.
    """
    if power_at(high) < TARGET_POWER:
        return None
    if power_at(low) >= TARGET_POWER:
        return low
    for _ in range(200):
        if (high - low <= 1) if integer else (high - low <= 1e-9 * max(1.0, high)):
            break
        mid = math.floor((low + high) / 2) if integer else (low + high) / 2
        if power_at(mid) >= TARGET_POWER:
            high = mid
        else:
            low = mid
    return high


def _finite_power(value: float, effect: float, n_effective: float, alpha: float) -> float:
    """statsmodels' t power, or where its noncentral t gives NaN (far tails) the normal approximation."""
    if math.isfinite(value):
        return value
    return float(stats.norm.sf(stats.norm.isf(alpha) - effect * math.sqrt(n_effective)))


def _power_analysis(test: str, claim: Claim, spread: float, n: int, alpha: float,
                    power_of: Callable[[float, float], float]) -> Power:
    """MDE now and at the cap, seeds needed for the paper's effect; `power_of(effect_in_sd, seeds)`."""
    d_now = _smallest(lambda d: power_of(d, n), 1e-9, 1e3) or math.inf
    d_cap = _smallest(lambda d: power_of(d, SEED_CAP), 1e-9, 1e3) or math.inf
    effect = claim.paper_effect()
    needed: int | None = None
    over: bool | None = None
    if effect is not None and spread > 0:
        seeds = _smallest(lambda m: power_of(effect / spread, m), 2, 10_000_000, integer=True)
        needed = max(MIN_SEEDS, math.ceil(seeds)) if seeds is not None else None
        over = needed is None or needed > SEED_CAP
    return Power(test, alpha, TARGET_POWER, spread, d_now * spread, d_cap * spread, effect, needed, over)


def _power_two_sample(claim: Claim, lhs: Summary, rhs: Summary) -> Power:
    """Welch claims, sized with the pooled standard deviation (statsmodels' two-sample t power, equal sides
    for the seeds needed, this run's sides for the MDE)."""
    pooled = math.sqrt(((lhs.n - 1) * lhs.std**2 + (rhs.n - 1) * rhs.std**2) / (lhs.n + rhs.n - 2))
    solver = TTestIndPower()
    ratio = rhs.n / lhs.n

    def power_of(d: float, m: float) -> float:
        r = ratio if m == lhs.n else 1.0
        value = float(solver.power(effect_size=d, nobs1=m, alpha=claim.alpha, ratio=r, alternative="larger"))
        return _finite_power(value, d, m * r / (1 + r), claim.alpha)

    return _power_analysis("welch", claim, pooled, lhs.n, claim.alpha, power_of)


def _power_one_sample(claim: Claim, spread: float, n: int, alpha: float, test: str) -> Power:
    """Paired and value claims: one-sample t power on the differences (value claims per side at alpha / 2)."""
    solver = TTestPower()

    def power_of(d: float, m: float) -> float:
        return _finite_power(float(solver.power(effect_size=d, nobs=m, alpha=alpha, alternative="larger")), d, m, alpha)

    return _power_analysis(test, claim, spread, n, alpha, power_of)
