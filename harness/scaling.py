"""Scaling-law fits: power law plus constant, bootstrap intervals, and validation by extrapolation.

Ardalani et al. 2022 ("Understanding Scaling Laws for Recommendation Models", arXiv 2208.08489,
abstract) fit the quality of DLRM-style models as a power law plus a constant in a resource x
(training examples, parameters, compute):

    NE(x) = a · x^(−b) + c,    a > 0, b > 0, c ≥ 0,

where c is the irreducible NE. This module gives that fit once, for any sweep:

* :func:`fit_power_law`: constrained least squares (``scipy.optimize.curve_fit`` with bounds,
  trust-region reflective), ``0 ≤ c ≤ min(y)`` as the reproduction spec asks (a constant above the
  best measured point would make the law rise), several starting exponents, x rescaled by its
  smallest value for conditioning;
* :func:`bootstrap_power_law`: percentile intervals of (a, b, c) and of the fitted curve, by
  resampling the seeds (rows of a ``[seeds, points]`` matrix; a seed's points stay together) or,
  for a single seed, the residuals of the fit over the points;
* :func:`extrapolate_largest`: the spec's validation (Sec. 3.2): fit on every point but the
  largest, predict the held-out largest one, and compare with its measured mean and seed spread
  (a bootstrap interval of the prediction error that carries both the fit's and the
  measurement's seed noise);
* :func:`gain_per_doubling`: the relative improvement of the last step of a sweep per doubling of
  x, the spec's measure of a saturated ("out of steam") scaling regime;
* :func:`sweep_table`: a sweep's x values and its ``[seeds, points]`` measurements gathered from
  run records (runs tagged with their sweeps in the model settings, see :data:`SWEEPS_SETTING`).

The paper's own fitted exponents are unverified (no full text in the research notes), so nothing
here encodes them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeWarning, curve_fit

from harness.errors import UserError

MIN_POINTS = 4  # more points than the law's three parameters, or the fit is an interpolation
MAX_EXPONENT = 3.0  # the spec's upper bound on b (Sec. 3.2)
START_EXPONENTS = (0.1, 0.3, 1.0)
START_GRID = 24  # exponents tried for the solver's starting point
POSITIVE = 1e-12  # the strict lower bound of a and b
SWEEPS_SETTING = "sweeps"  # model settings key: {sweep name: the metric that is its x}
Resample = Literal["seeds", "residuals"]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PowerLaw:
    """NE(x) = a · x^(−b) + c (Ardalani et al. 2022, abstract): `c` is the irreducible NE."""

    a: float
    b: float
    c: float

    def __call__(self, x: ArrayLike) -> FloatArray:
        """The law at `x` (scalar or array)."""
        return self.a * np.asarray(x, dtype=np.float64) ** (-self.b) + self.c


@dataclass(frozen=True)
class Interval:
    """A two-sided interval [low, high] at a confidence `level`."""

    low: float
    high: float
    level: float

    def contains(self, value: float) -> bool:
        """Whether `value` lies in the closed interval."""
        return self.low <= value <= self.high


@dataclass(frozen=True)
class BootstrapFit:
    """A fit and its bootstrap: the point estimate, every replicate's (a, b, c), and the level of its intervals."""

    law: PowerLaw
    replicates: FloatArray
    level: float

    def interval(self, parameter: Literal["a", "b", "c"]) -> Interval:
        """The percentile interval of one parameter over the replicates."""
        column = self.replicates[:, "abc".index(parameter)]
        return _percentile_interval(column, self.level)

    def band(self, x: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Pointwise percentile band (low, high) of the fitted curve at `x`."""
        xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
        curves = self.replicates[:, :1] * xs[None, :] ** (-self.replicates[:, 1:2]) + self.replicates[:, 2:3]
        tail = 50.0 * (1.0 - self.level)
        return np.percentile(curves, tail, axis=0), np.percentile(curves, 100.0 - tail, axis=0)

    def prediction_interval(self, x: float) -> Interval:
        """The band at one `x` as an :class:`Interval`."""
        low, high = self.band([x])
        return Interval(float(low[0]), float(high[0]), self.level)


@dataclass(frozen=True)
class Extrapolation:
    """A fit on all but the largest point of a sweep, checked against that held-out point.

    `measured` holds the held-out point's value per seed; `error` is predicted minus their mean.
    `interval` is the bootstrap band of the fit at the held-out x (the curve's uncertainty);
    `error_interval` the bootstrap interval of the error itself, with the held-out mean redrawn
    from the same resampled seeds, so that it carries the measurement's seed noise too.
    """

    fit: BootstrapFit
    x_held_out: float
    predicted: float
    interval: Interval
    measured: tuple[float, ...]
    error_interval: Interval

    @property
    def measured_mean(self) -> float:
        """Mean of the held-out point over seeds."""
        return float(np.mean(self.measured))

    @property
    def measured_sd(self) -> float:
        """Sample standard deviation of the held-out point over seeds (NaN for one seed)."""
        return float(np.std(self.measured, ddof=1)) if len(self.measured) > 1 else math.nan

    @property
    def error(self) -> float:
        """Predicted minus measured mean."""
        return self.predicted - self.measured_mean

    @property
    def relative_error(self) -> float:
        """`error` relative to the measured mean (the spec's 0.5 % criterion is on this)."""
        return self.error / self.measured_mean

    @property
    def covered(self) -> bool:
        """Whether the prediction agrees with the measurement: the error's bootstrap interval contains 0."""
        return self.error_interval.contains(0.0)


def power_law(x: ArrayLike, a: float, b: float, c: float) -> FloatArray:
    """a · x^(−b) + c, the model function handed to ``curve_fit``."""
    return a * np.asarray(x, dtype=np.float64) ** (-b) + c


def _checked(x: ArrayLike, y: ArrayLike, where: str) -> tuple[FloatArray, FloatArray]:
    """`x`, `y` as float arrays after the checks every fit needs (a :class:`UserError` naming the problem)."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.ndim != 1 or ys.shape != xs.shape:
        raise UserError(f"{where}: x and y must be 1-D and of equal length, got shapes {xs.shape} and {ys.shape}")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise UserError(f"{where}: x and y must be finite (a diverged run gives NaN); drop or rerun that point")
    if np.any(xs <= 0):
        raise UserError(f"{where}: x must be positive (a power law is defined for x > 0), got min {xs.min():g}")
    if np.any(ys <= 0):
        raise UserError(f"{where}: y must be positive (0 ≤ c ≤ min(y) needs min(y) > 0), got min {ys.min():g}")
    distinct = len(np.unique(xs))
    if distinct < MIN_POINTS:
        raise UserError(f"{where}: {distinct} distinct x value(s); a 3-parameter power law plus constant needs at "
                        f"least {MIN_POINTS} to be a fit rather than an interpolation; add sweep points")
    return xs, ys


def fit_power_law(x: ArrayLike, y: ArrayLike, max_exponent: float = MAX_EXPONENT) -> PowerLaw:
    """Least-squares fit of y = a · x^(−b) + c with a > 0, 0 < b ≤ `max_exponent`, 0 ≤ c ≤ min(y).

    x is divided by its smallest value for the solver (a scales back by ``x_min^b``). The solver
    starts from the best of a grid of exponents with (a, c) by linear least squares at each
    (:func:`_grid_start`), else from :data:`START_EXPONENTS` in turn.
    """
    xs, ys = _checked(x, y, "power-law fit")
    scale = float(xs.min())
    u = xs / scale
    ceiling = float(ys.min())
    best: tuple[float, FloatArray] | None = None
    for start in (_grid_start(u, ys, ceiling, max_exponent), *_fallback_starts(ys, ceiling, max_exponent)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                params, _ = curve_fit(power_law, u, ys, p0=start,
                                      bounds=([POSITIVE, POSITIVE, 0.0], [np.inf, max_exponent, ceiling]),
                                      method="trf", maxfev=20_000)
        except RuntimeError:
            continue
        best = (float(np.sum((power_law(u, *params) - ys) ** 2)), params)
        break
    if best is None:
        raise UserError("power-law fit: the least-squares solver did not converge from any start; "
                        "check that y decreases with x")
    a, b, c = (float(v) for v in best[1])
    return PowerLaw(a * scale ** b, b, c)


def _grid_start(u: FloatArray, ys: FloatArray, ceiling: float, max_exponent: float) -> tuple[float, float, float]:
    """A starting point inside the bounds: for each exponent of a grid, (a, c) by linear least squares
    (clipped to the bounds); the exponent with the smallest sum of squares."""
    best: tuple[float, tuple[float, float, float]] | None = None
    for b in np.geomspace(0.01, max_exponent * 0.99, START_GRID):
        basis = u ** (-b)
        design = np.stack([basis, np.ones_like(basis)], axis=1)
        (a, c), *_ = np.linalg.lstsq(design, ys, rcond=None)
        c = min(max(float(c), 0.0), ceiling * 0.999)
        a = max(float(np.dot(basis, ys - c) / np.dot(basis, basis)), 1e-6)
        sse = float(np.sum((a * basis + c - ys) ** 2))
        if best is None or sse < best[0]:
            best = (sse, (a, float(b), c))
    assert best is not None
    return best[1]


def _fallback_starts(ys: FloatArray, ceiling: float, max_exponent: float) -> list[tuple[float, float, float]]:
    """Fixed starts (:data:`START_EXPONENTS`) for when the solver fails from the grid's."""
    c0 = 0.8 * ceiling
    return [(max(float(ys.max()) - c0, 1e-6), min(b0, max_exponent / 2), c0) for b0 in START_EXPONENTS]


def bootstrap_power_law(x: ArrayLike, y: ArrayLike, resample: Resample = "seeds", replicates: int = 1000,
                        level: float = 0.9, seed: int = 0, max_exponent: float = MAX_EXPONENT) -> BootstrapFit:
    """The fit of the seed-mean curve of `y` (``[seeds, points]``, or 1-D for one seed) and its bootstrap.

    ``resample="seeds"`` draws seeds with replacement (a seed's whole sweep stays together: the same
    seed shares its batch orders across points) and refits the mean curve of each draw; it needs at
    least 2 seeds. ``"residuals"`` adds the fit's residuals, drawn with replacement over the points,
    to the fitted curve and refits (a single seed). Replicates whose solver fails are dropped; the
    intervals are percentile intervals at `level`.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.atleast_2d(np.asarray(y, dtype=np.float64))
    if ys.ndim != 2 or ys.shape[1] != xs.shape[0]:
        raise UserError(f"bootstrap: y must be [seeds, points] with {xs.shape[0]} points, got shape {ys.shape}")
    _check_bootstrap(ys, resample, replicates, level)
    law, draws, _ = _bootstrap(xs, ys, resample, replicates, seed, max_exponent)
    return BootstrapFit(law, np.asarray([(d.a, d.b, d.c) for d in draws], dtype=np.float64), level)


def _bootstrap(xs: FloatArray, ys: FloatArray, resample: Resample, replicates: int, seed: int, max_exponent: float,
               held_out: FloatArray | None = None) -> tuple[PowerLaw, list[PowerLaw], list[float]]:
    """The fit of the mean curve, the refits of the replicates, and per replicate the mean of the
    `held_out` column (``[seeds]``) over the same resampled seeds (its plain mean for residuals)."""
    mean = ys.mean(axis=0)
    law = fit_power_law(xs, mean, max_exponent)
    rng = np.random.default_rng(seed)
    fitted = law(xs)
    residuals = mean - fitted
    draws: list[PowerLaw] = []
    held_means: list[float] = []
    for _ in range(replicates):
        rows = rng.integers(0, ys.shape[0], ys.shape[0])
        if resample == "seeds":
            sample = ys[rows].mean(axis=0)
        else:
            sample = fitted + residuals[rng.integers(0, len(residuals), len(residuals))]
        try:
            refit = fit_power_law(xs, sample, max_exponent)
        except UserError:
            continue
        draws.append(refit)
        if held_out is not None:
            held_means.append(float(held_out[rows].mean() if resample == "seeds" else held_out.mean()))
    if len(draws) < replicates // 2:
        raise UserError(f"bootstrap: only {len(draws)} of {replicates} replicates could be fitted; "
                        "the sweep is too noisy for a power law (check the points)")
    return law, draws, held_means


def extrapolate_largest(x: ArrayLike, y: ArrayLike, resample: Resample = "seeds", replicates: int = 1000,
                        level: float = 0.9, seed: int = 0) -> Extrapolation:
    """Fit on every point of the sweep but the largest x, predict that held-out point (spec Sec. 3.2).

    `y` is ``[seeds, points]`` (or 1-D). The prediction interval is the bootstrap band at the held-out x;
    the error interval redraws the held-out mean from each replicate's seeds (see :class:`Extrapolation`).
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.atleast_2d(np.asarray(y, dtype=np.float64))
    if ys.ndim != 2 or ys.shape[1] != xs.shape[0]:
        raise UserError(f"extrapolation: y must be [seeds, points] with {xs.shape[0]} points, got shape {ys.shape}")
    held = int(np.argmax(xs))
    keep = np.arange(len(xs)) != held
    _check_bootstrap(ys[:, keep], resample, replicates, level)
    law, draws, held_means = _bootstrap(xs[keep], ys[:, keep], resample, replicates, seed, MAX_EXPONENT, ys[:, held])
    fit = BootstrapFit(law, np.asarray([(d.a, d.b, d.c) for d in draws], dtype=np.float64), level)
    target = float(xs[held])
    errors = np.array([float(d(target)) - m for d, m in zip(draws, held_means)])
    return Extrapolation(fit, target, float(law(target)), fit.prediction_interval(target),
                         tuple(float(v) for v in ys[:, held]), _percentile_interval(errors, level))


def extrapolation_error(x: ArrayLike, y: ArrayLike) -> float:
    """Predicted minus measured at the largest x, for one seed's sweep fitted without that point."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    held = int(np.argmax(xs))
    keep = np.arange(len(xs)) != held
    return float(fit_power_law(xs[keep], ys[keep])(xs[held])) - float(ys[held])


def gain_per_doubling(x: ArrayLike, y: ArrayLike) -> float:
    """Relative decrease of y over the sweep's last step, per doubling of x.

    ``(y[-2] − y[-1]) / y[-2] / log2(x[-1] / x[-2])`` with points sorted by x: the spec's (Sec. 3.1,
    sl-params-saturated) comparison of the last doubling of data against the last doubling of
    parameters. Negative when the last step made y worse.
    """
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.ndim != 1 or ys.shape != xs.shape or len(xs) < 2:
        raise UserError(f"gain per doubling: need at least 2 points of equal-length x and y, got {xs.shape}, {ys.shape}")
    order = np.argsort(xs)
    (x0, x1), (y0, y1) = xs[order][-2:], ys[order][-2:]
    if not x1 > x0 > 0:
        raise UserError(f"gain per doubling: the last two x values must be positive and distinct, got {x0:g}, {x1:g}")
    return float((y0 - y1) / y0 / math.log2(x1 / x0))


@dataclass(frozen=True)
class SweepTable:
    """One sweep gathered from runs: its models in x order, their x, and ``[seeds, points]`` values."""

    name: str
    models: tuple[str, ...]
    x: FloatArray
    seeds: tuple[int, ...]
    y: FloatArray


def sweep_table(runs: Sequence[Mapping[str, Any]], models: Mapping[str, Mapping[str, Any]], sweep: str,
                metric: str) -> SweepTable:
    """The runs of `sweep` (models whose settings name it under :data:`SWEEPS_SETTING`) as a :class:`SweepTable`.

    `runs` are run records (``model``, ``seed``, ``metrics``); a model's x is the seed mean of the
    metric its settings name for the sweep (e.g. ``train_rows``, ``params``); only seeds that ran
    every point are kept.
    """
    members = {name: str(d[SWEEPS_SETTING][sweep]) for name, d in models.items() if sweep in d.get(SWEEPS_SETTING, {})}
    if not members:
        raise UserError(f"sweep {sweep!r}: no model of the record belongs to it; known sweeps: "
                        f"{sorted({s for d in models.values() for s in d.get(SWEEPS_SETTING, {})})}")
    values: dict[str, dict[int, Mapping[str, float]]] = {name: {} for name in members}
    for run in runs:
        if run["model"] in values:
            values[run["model"]][int(run["seed"])] = run["metrics"]
    seeds = sorted(set.intersection(*(set(per_seed) for per_seed in values.values())))
    if not seeds:
        raise UserError(f"sweep {sweep!r}: no seed ran every point of the sweep ({', '.join(members)})")
    xs = {name: float(np.mean([values[name][s][members[name]] for s in seeds])) for name in members}
    ordered = sorted(members, key=lambda name: xs[name])
    y = np.array([[values[name][s][metric] for name in ordered] for s in seeds], dtype=np.float64)
    return SweepTable(sweep, tuple(ordered), np.array([xs[n] for n in ordered]), tuple(seeds), y)


def _check_bootstrap(ys: FloatArray, resample: Resample, replicates: int, level: float) -> None:
    """The bootstrap settings' checks (a :class:`UserError` naming the fix)."""
    if not 0.0 < level < 1.0:
        raise UserError(f"bootstrap: level {level!r} must be in (0, 1), e.g. 0.9")
    if replicates < 20:
        raise UserError(f"bootstrap: {replicates} replicates give no useful percentile interval; use at least 20")
    if resample == "seeds" and ys.shape[0] < 2:
        raise UserError("bootstrap: resampling seeds needs at least 2 seeds; give more seeds or resample='residuals'")
    if resample not in ("seeds", "residuals"):
        raise UserError(f"bootstrap: unknown resampling {resample!r}; use 'seeds' or 'residuals'")


def _percentile_interval(values: FloatArray, level: float) -> Interval:
    """The central percentile interval of `values` at `level`."""
    tail = 50.0 * (1.0 - level)
    return Interval(float(np.percentile(values, tail)), float(np.percentile(values, 100.0 - tail)), level)
