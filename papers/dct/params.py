"""The DCT reproduction's profile parameters (``[profiles.*.params]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.params import DataParams

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
class Params(DataParams):
    """Hybrid-parallel DLRM (tables model-parallel, MLPs data-parallel) with and without DCT."""

    dataset: str = "synthetic-ctr-teacher"
    """The data: the synthetic teacher CTR set (planted structure), or criteo-kaggle-dlrm."""
    dim: int = 16
    """Embedding dimension."""
    bottom: tuple[int, ...] = (13, 64, 16)
    """Bottom MLP widths, from the dense input to the embedding dimension."""
    top: tuple[int, ...] = (64, 1)
    """Top MLP widths after the interaction, ending in the logit."""
    dense_lr: float = 0.001
    """Adam's learning rate for the MLPs."""
    table_lr: float = 0.05
    """Adagrad's learning rate for the tables."""
    workers: int = 4
    """Virtual data-parallel workers in one process (under torchrun: the ranks instead)."""
    epochs: int = 1
    """Passes over the training split."""
    max_steps: int = 0
    """Above 0: stop after that many global steps."""
    methods: tuple[Method, ...] = (Method(),)
    """The configurations trained on every seed; the first is the uncompressed baseline."""
