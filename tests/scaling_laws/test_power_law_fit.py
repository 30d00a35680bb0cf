"""harness.scaling on synthetic sweeps with known (a, b, c), and harness.data.fractions' nested prefixes."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.fractions import prefix_rows
from harness.errors import ConfigError, UserError
from harness.scaling import (MAX_EXPONENT, PowerLaw, bootstrap_power_law, extrapolate_largest, extrapolation_error,
                             fit_power_law, gain_per_doubling, sweep_table)

TRUE = PowerLaw(a=4.0, b=0.5, c=0.7)
X = np.array([500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0])


def noisy(law: PowerLaw, seeds: int, noise: float, seed: int = 0) -> np.ndarray:
    """`seeds` noisy copies of `law` at X: a [seeds, points] matrix."""
    return law(X)[None, :] + np.random.default_rng(seed).normal(0.0, noise, (seeds, len(X)))


def test_fit_recovers_the_parameters_of_an_exact_law() -> None:
    law = fit_power_law(X, TRUE(X))
    assert law.a == pytest.approx(TRUE.a, rel=1e-3)
    assert law.b == pytest.approx(TRUE.b, rel=1e-3)
    assert law.c == pytest.approx(TRUE.c, abs=1e-4)


def test_fit_respects_the_constraints_when_the_data_want_to_break_them() -> None:
    rising = np.linspace(0.8, 0.9, len(X))  # NE growing with x: an unconstrained fit would take b < 0
    law = fit_power_law(X, rising)
    assert law.a > 0 and 0 < law.b <= MAX_EXPONENT and 0 <= law.c <= rising.min() + 1e-12
    linear_drop = 1.0 - 1e-5 * X  # a decrease that wants c < 0 or b > 3
    law = fit_power_law(X, linear_drop)
    assert law.a > 0 and 0 < law.b <= MAX_EXPONENT and 0 <= law.c <= linear_drop.min() + 1e-12


def test_bootstrap_over_seeds_covers_the_truth() -> None:
    fit = bootstrap_power_law(X, noisy(TRUE, seeds=5, noise=0.002), "seeds", replicates=100, level=0.95, seed=1)
    for name in ("a", "b", "c"):
        interval = fit.interval(name)  # type: ignore[arg-type]
        assert interval.low < interval.high
        assert interval.contains(getattr(TRUE, name)), (name, interval)
    low, high = fit.band(X)
    assert np.all(low <= TRUE(X) + 1e-9) and np.all(TRUE(X) <= high + 1e-9)
    assert np.all(fit.replicates[:, 0] > 0) and np.all(fit.replicates[:, 1] > 0) and np.all(fit.replicates[:, 2] >= 0)


def test_bootstrap_over_residuals_for_one_seed() -> None:
    fit = bootstrap_power_law(X, noisy(TRUE, seeds=1, noise=0.001)[0], "residuals", replicates=100, level=0.95)
    assert fit.interval("b").contains(TRUE.b)


def test_extrapolation_predicts_the_held_out_largest_point() -> None:
    # Noise draw 1: the percentile bootstrap with 5 seeds covers about 85% of draws at level 0.95
    # (measured over 20 draws), so a fixed draw keeps the test deterministic.
    held = extrapolate_largest(X, noisy(TRUE, seeds=5, noise=0.001, seed=1), replicates=100, level=0.95)
    assert held.x_held_out == X.max()
    assert held.predicted == pytest.approx(TRUE(X.max())[()], abs=0.005)
    assert held.covered and abs(held.relative_error) < 0.005
    assert extrapolation_error(X, TRUE(X)) == pytest.approx(0.0, abs=1e-4)


def test_extrapolation_misses_a_sweep_that_is_not_a_power_law() -> None:
    kinked = TRUE(X).copy()
    kinked[-1] -= 0.05  # the largest point falls off the law
    held = extrapolate_largest(X, kinked[None, :] + np.random.default_rng(0).normal(0, 1e-3, (5, len(X))),
                               replicates=100, level=0.95)
    assert not held.covered and held.error > 0.04


@pytest.mark.parametrize(("x", "y", "message"), [
    (X[:3], TRUE(X[:3]), "at least 4"),
    ([1.0, 1.0, 1.0, 1.0, 2.0], [0.9, 0.9, 0.9, 0.9, 0.8], "2 distinct x"),
    (X, np.r_[TRUE(X[:-1]), np.nan], "finite"),
    (-X, TRUE(X), "x must be positive"),
    (X, -TRUE(X), "y must be positive"),
    (X, TRUE(X)[:-1], "equal length"),
])
def test_bad_input_gets_a_clear_error(x: object, y: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        fit_power_law(x, y)  # type: ignore[arg-type]


def test_bootstrap_refuses_too_few_seeds_and_bad_settings() -> None:
    with pytest.raises(UserError, match="at least 2 seeds"):
        bootstrap_power_law(X, TRUE(X), "seeds")
    with pytest.raises(UserError, match="level"):
        bootstrap_power_law(X, noisy(TRUE, 3, 0.001), level=1.5)
    with pytest.raises(UserError, match="points"):
        bootstrap_power_law(X, noisy(TRUE, 3, 0.001)[:, :4])


def test_gain_per_doubling() -> None:
    assert gain_per_doubling([1, 2, 4], [1.0, 0.9, 0.81]) == pytest.approx(0.1)
    assert gain_per_doubling([4, 16, 1], [0.9, 0.72, 1.0]) == pytest.approx(0.1)  # sorted by x; 16/4 is 2 doublings
    with pytest.raises(UserError, match="distinct"):
        gain_per_doubling([1, 1], [1.0, 0.9])


def test_sweep_table_gathers_a_sweep_from_runs() -> None:
    models = {"big": {"sweeps": {"data": "rows"}}, "small": {"sweeps": {"data": "rows"}}, "other": {}}
    runs = [{"model": m, "seed": s, "metrics": {"rows": rows, "test_ne": ne + s}}
            for m, rows, ne in (("big", 200, 0.8), ("small", 100, 0.9), ("other", 1, 0.0)) for s in (0, 1)]
    runs.append({"model": "small", "seed": 2, "metrics": {"rows": 100, "test_ne": 5.0}})  # seed 2 lacks "big"
    table = sweep_table(runs, models, "data", "test_ne")
    assert table.models == ("small", "big") and table.seeds == (0, 1)
    assert table.x.tolist() == [100.0, 200.0] and table.y.tolist() == [[0.9, 0.8], [1.9, 1.8]]
    with pytest.raises(UserError, match="no model"):
        sweep_table(runs, models, "emb", "test_ne")


def test_prefix_rows_are_nested_and_checked() -> None:
    small, large = prefix_rows(1000, 0.25, 7), prefix_rows(1000, 0.5, 7)
    assert len(small) == 250 and len(large) == 500 and set(small) <= set(large)
    assert len(set(prefix_rows(1000, 1.0, 7))) == 1000
    with pytest.raises(ConfigError, match=r"in \(0, 1\]"):
        prefix_rows(1000, 1.5, 0)
    with pytest.raises(ConfigError, match="keeps no row"):
        prefix_rows(10, 0.01, 0)


def test_the_error_interval_carries_the_held_out_points_noise() -> None:
    held = extrapolate_largest(X, noisy(TRUE, seeds=5, noise=0.001, seed=3), replicates=100, level=0.95)
    width = held.error_interval.high - held.error_interval.low
    assert width > held.interval.high - held.interval.low  # the band alone ignores the measurement's noise
    assert held.error_interval.contains(held.error) or abs(held.error) < width
