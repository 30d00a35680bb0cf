"""Scaling-law fit benchmarks: the constrained power-law fit and its bootstrap (harness/scaling.py).

Every scaling-laws run fits each sweep once and bootstraps it (``replicates`` refits), and the
figures notebook refits from the record; the bootstrap's time bounds how many replicates a run
can afford. The sweep is a seeded synthetic law with seed noise, the default profile's shape
(5 points, 5 seeds).

Direction: asv counts every number as lower-is-better; these are ``time_*`` (seconds).
"""

from __future__ import annotations

import numpy as np

from harness.scaling import PowerLaw, bootstrap_power_law, extrapolate_largest, fit_power_law

from .common import SEED

X = np.array([540.0, 1083.0, 2166.0, 4332.0, 8665.0])
LAW = PowerLaw(a=3.0, b=0.4, c=0.8)


def noisy_sweep(seeds: int) -> np.ndarray:
    """`seeds` rows of the law at X with seed noise of 0.005 NE."""
    return LAW(X)[None, :] + np.random.default_rng(SEED).normal(0.0, 0.005, (seeds, len(X)))


class PowerLawFit:
    """One constrained fit of the seed-mean curve (three starting exponents)."""

    def setup(self) -> None:
        """Draw the sweep outside the timed region."""
        self.y = noisy_sweep(5).mean(axis=0)

    def time_fit_power_law(self) -> None:
        """``fit_power_law`` on 5 points."""
        fit_power_law(X, self.y)


class PowerLawBootstrap:
    """The bootstrap over seeds of a 5-point, 5-seed sweep, and the held-out extrapolation."""

    params = [100, 1000]
    param_names = ["replicates"]

    def setup(self, replicates: int) -> None:
        """Draw the sweep outside the timed region."""
        self.y = noisy_sweep(5)

    def time_bootstrap_power_law(self, replicates: int) -> None:
        """Fit and refit on `replicates` seed resamples."""
        bootstrap_power_law(X, self.y, "seeds", replicates)

    def time_extrapolate_largest(self, replicates: int) -> None:
        """The extrapolation check: bootstrap on 4 points, predict the fifth."""
        extrapolate_largest(X, self.y, "seeds", replicates)
