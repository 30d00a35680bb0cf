"""Claims and their verdicts.

A claim cites a table or figure of the paper and is one of two kinds:

* ``relation``: a measured quantity against another, e.g. ``adatt_6:auc_task1 > ple_6:auc_task1``.
  ``>`` / ``<`` claim superiority: Welch's one-sided t-test over seeds at level `alpha` decides.
  ``>=`` / ``<=`` claim non-inferiority within `tolerance`: the one-sided ``1 - alpha`` confidence
  bound of the difference decides.
* ``value``: a measured quantity against the paper's number, within an absolute `tolerance`:
  the two-sided ``1 - alpha`` t-interval of the mean decides.

Each gives **reproduced**, **not reproduced** or **inconclusive**, with the reason in words.
The verdict comes from the run's numbers only; a quantity the run did not measure, or fewer
than two seeds, gives *inconclusive* and says why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

Status = Literal["reproduced", "not reproduced", "inconclusive"]
REPRODUCED: Status = "reproduced"
NOT_REPRODUCED: Status = "not reproduced"
INCONCLUSIVE: Status = "inconclusive"

RELATION_OPS = (">", "<", ">=", "<=")


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a paper, as declared in its ``paper.toml``.

    `source` cites the paper ("Table 5"); `transferred` marks a claim carried over from the
    paper's internal data to public data (the paper's number is then context, not a target).
    """

    id: str
    kind: Literal["relation", "value"]
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

    def quantities(self) -> list[str]:
        """The measured quantities this claim needs."""
        return [self.lhs] + ([self.rhs] if self.rhs else [])

    def paper_figure(self) -> str:
        """The paper's side of the claim, as a short text for tables."""
        if self.kind == "value":
            return f"{self.paper_value:g} ± {self.tolerance:g}"
        if self.paper_lhs is not None and self.paper_rhs is not None:
            return f"{self.paper_lhs:g} {self.op} {self.paper_rhs:g}"
        return f"{self.op}"


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
class Verdict:
    """The outcome of one claim on one run."""

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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for the run record."""
        return asdict(self)


def evaluate(claim: Claim, measurements: dict[str, list[float]]) -> Verdict:
    """Decide `claim` from per-seed `measurements` (quantity -> values)."""
    missing = [q for q in claim.quantities() if not measurements.get(q)]
    if missing:
        return _verdict(claim, INCONCLUSIVE, f"not measured by this run: {', '.join(missing)}", ours="—")
    lhs = Summary.of(measurements[claim.lhs])
    if claim.kind == "value":
        return _evaluate_value(claim, lhs)
    return _evaluate_relation(claim, lhs, Summary.of(measurements[claim.rhs or ""]),
                              measurements[claim.lhs], measurements[claim.rhs or ""])


def _verdict(claim: Claim, status: Status, reason: str, ours: str, **kw: Any) -> Verdict:
    return Verdict(claim_id=claim.id, status=status, reason=reason, statement=claim.statement,
                   source=claim.source, paper=claim.paper_figure(), ours=ours,
                   transferred=claim.transferred, **kw)


def _evaluate_value(claim: Claim, ours: Summary) -> Verdict:
    """Two-sided t-interval of the mean against ``paper_value ± tolerance``."""
    assert claim.paper_value is not None
    low_ok, high_ok = claim.paper_value - claim.tolerance, claim.paper_value + claim.tolerance
    text = ours.text()
    if ours.n < 2:
        return _verdict(claim, INCONCLUSIVE, "one seed gives no spread; run with --seeds 2 or more",
                        text, lhs=ours)
    half = _t_halfwidth(ours.std, ours.n, claim.alpha)
    low, high = ours.mean - half, ours.mean + half
    level = f"{100 * (1 - claim.alpha):g}% interval [{low:.4f}, {high:.4f}]"
    band = f"[{low_ok:.4f}, {high_ok:.4f}]"
    if low >= low_ok and high <= high_ok:
        status, reason = REPRODUCED, f"{level} lies inside the paper's band {band}"
    elif high < low_ok or low > high_ok:
        status, reason = NOT_REPRODUCED, f"{level} lies outside the paper's band {band}"
    else:
        status, reason = INCONCLUSIVE, f"{level} overlaps the edge of the paper's band {band}; more seeds may decide"
    return _verdict(claim, status, reason, text, lhs=ours, interval=(low, high))


def _evaluate_relation(claim: Claim, lhs: Summary, rhs: Summary,
                       lhs_values: list[float], rhs_values: list[float]) -> Verdict:
    """Welch's test (superiority) or a confidence bound (non-inferiority) on ``lhs - rhs``."""
    diff = lhs.mean - rhs.mean
    ours = f"{lhs.text()} {claim.op} {rhs.text()}"
    if lhs.n < 2 or rhs.n < 2:
        return _verdict(claim, INCONCLUSIVE, "fewer than two seeds per side gives no spread; run with --seeds 2 or more",
                        ours, lhs=lhs, rhs=rhs)
    sign = 1.0 if claim.op in (">", ">=") else -1.0
    # Orient so that "the claim holds" is always "delta > 0".
    delta = sign * diff
    se = math.sqrt(lhs.std**2 / lhs.n + rhs.std**2 / rhs.n)
    dof = _welch_dof(lhs, rhs)
    if claim.op in (">", "<"):
        return _superiority(claim, ours, lhs, rhs, lhs_values, rhs_values, delta, se, dof)
    return _non_inferiority(claim, ours, lhs, rhs, delta, se, dof)


def _superiority(claim: Claim, ours: str, lhs: Summary, rhs: Summary, lhs_values: list[float],
                 rhs_values: list[float], delta: float, se: float, dof: float) -> Verdict:
    alternative = "greater" if claim.op == ">" else "less"
    opposite = "less" if claim.op == ">" else "greater"
    if se == 0.0:
        status = REPRODUCED if delta > 0 else NOT_REPRODUCED
        reason = f"no spread over seeds; difference {delta:+.4g} in the claimed direction" if delta > 0 else \
            f"no spread over seeds; difference {delta:+.4g} against the claim"
        return _verdict(claim, status, reason, ours, lhs=lhs, rhs=rhs, extra={"difference": delta})
    p_claim = float(stats.ttest_ind(lhs_values, rhs_values, equal_var=False, alternative=alternative).pvalue)
    p_against = float(stats.ttest_ind(lhs_values, rhs_values, equal_var=False, alternative=opposite).pvalue)
    diff_text = f"difference {delta:+.4f} in the claimed direction (Welch's t, df={dof:.1f})"
    if p_claim < claim.alpha:
        status, reason, p = REPRODUCED, f"{diff_text}, p={p_claim:.3g} < {claim.alpha:g}", p_claim
    elif p_against < claim.alpha:
        status, reason, p = NOT_REPRODUCED, f"{diff_text}: significantly against the claim, p={p_against:.3g} < {claim.alpha:g}", p_against
    else:
        status, reason, p = INCONCLUSIVE, f"{diff_text} is not significant either way (p={p_claim:.3g}); more seeds may decide", p_claim
    return _verdict(claim, status, reason, ours, lhs=lhs, rhs=rhs, p_value=p, extra={"difference": delta})


def _non_inferiority(claim: Claim, ours: str, lhs: Summary, rhs: Summary,
                     delta: float, se: float, dof: float) -> Verdict:
    t_crit = float(stats.t.ppf(1 - claim.alpha, dof)) if se > 0 else 0.0
    lower, upper = delta - t_crit * se, delta + t_crit * se
    bound = -claim.tolerance
    level = f"one-sided {100 * (1 - claim.alpha):g}% bounds of the difference [{lower:+.4f}, {upper:+.4f}]"
    if lower > bound:
        status, reason = REPRODUCED, f"{level}: worse by at most the tolerance {claim.tolerance:g}"
    elif upper < bound:
        status, reason = NOT_REPRODUCED, f"{level}: worse by more than the tolerance {claim.tolerance:g}"
    else:
        status, reason = INCONCLUSIVE, f"{level} straddle the tolerance -{claim.tolerance:g}; more seeds may decide"
    return _verdict(claim, status, reason, ours, lhs=lhs, rhs=rhs, interval=(lower, upper),
                    extra={"difference": delta})


def _t_halfwidth(std: float, n: int, alpha: float) -> float:
    """Half-width of the two-sided ``1 - alpha`` t-interval of a mean."""
    return float(stats.t.ppf(1 - alpha / 2, n - 1)) * std / math.sqrt(n)


def _welch_dof(a: Summary, b: Summary) -> float:
    """Welch–Satterthwaite degrees of freedom."""
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    if va + vb == 0:
        return float(a.n + b.n - 2)
    return (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))


def count_statuses(verdicts: list[dict[str, Any]] | list[Verdict]) -> dict[str, int]:
    """Count verdicts per status, in the fixed order reproduced / not reproduced / inconclusive."""
    counts = {REPRODUCED: 0, NOT_REPRODUCED: 0, INCONCLUSIVE: 0}
    for v in verdicts:
        status = v["status"] if isinstance(v, dict) else v.status
        counts[status] += 1
    return counts
