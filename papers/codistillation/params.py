"""The codistillation reproduction's profile parameters (``[profiles.*.params]``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.params import StepLoopDLRMParams


@dataclass(frozen=True)
class Params(StepLoopDLRMParams):
    """Single DLRM, 2-ensemble and 2-way codistillation, each retrained twice to measure churn."""

    eval_every_steps: int = 100
    """Validation every that many steps (the steps-to-target measurement)."""
    distill_weight: float = 1.0
    """psi: the weight of the distillation term after the burn-in."""
    burn_in_fraction: float = 0.1
    """Fraction of the steps trained without the distillation term."""
    refresh_steps: int = 100
    """R: steps between refreshes of the stale copy of the other model (the checkpoint exchange)."""
    weight_ablation: tuple[float, ...] = ()
    """Further distillation weights, each retrained twice per seed (the churn-vs-weight figure)."""
    refresh_ablation: tuple[int, ...] = ()
    """Further refresh periods R, trained once per seed (the staleness claim)."""
    retrain_offset: int = 1000
    """The second retrain of seed s uses seed s + retrain_offset (a different initialisation and data order)."""
    ensemble_offset: int = 500
    """The second member of an ensemble trained with seed s uses seed s + ensemble_offset."""
