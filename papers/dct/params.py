"""The DCT reproduction's profile parameters (``[profiles.*.params]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.params import StepLoopDLRMParams

MpMode = Literal["threshold", "per_sample_topk"]


@dataclass(frozen=True)
class Method:
    """One trained configuration (``[[profiles.*.params.methods]]``): what DCT filters, and how."""

    name: str = "dense"
    """The model name in claims and records."""
    dp_keep: float = 1.0
    """DCT-DP: fraction K of the dense gradient entries whose magnitude sets the threshold (1: uncompressed)."""
    dp_period: int = 200
    """DCT-DP: steps between threshold recomputations (the paper's 'every few thousand iterations', scaled)."""
    error_feedback: bool = True
    """DCT-DP: accumulate the entries not sent into the next step's gradient."""
    mp_keep: float = 1.0
    """DCT-MP: fraction of the boundary activations kept (1: uncompressed)."""
    mp_period: int = 200
    """DCT-MP: steps between threshold recomputations (mode threshold)."""
    mp_mode: MpMode = "threshold"
    """DCT-MP: a batch threshold refreshed every mp_period steps, or the exact top-K of every sample."""


@dataclass(frozen=True)
class Params(StepLoopDLRMParams):
    """Hybrid-parallel DLRM (tables model-parallel, MLPs data-parallel) with and without DCT."""

    workers: int = 4
    """Virtual data-parallel workers in one process (under torchrun: the ranks instead)."""
    methods: tuple[Method, ...] = (Method(),)
    """The configurations trained on every seed; the first is the uncompressed baseline."""
