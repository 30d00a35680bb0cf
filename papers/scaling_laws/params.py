"""The scaling-laws reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.params import DataParams


@dataclass(frozen=True)
class Params(DataParams):
    """DLRM's NE swept over training data, embedding dimension and top-MLP width (Ardalani et al. 2022).

    Defaults follow the minimal faithful experiment of ../shared/research/spec-architectures-formats.md
    (Sec. 3.2): a fixed DLRM (d = 16, top MLP 64-32) for the data sweep, nested data fractions,
    every point trained to convergence with early stopping on the validation split.
    """

    fractions: tuple[float, ...] = (0.0625, 0.125, 0.25, 0.5, 1.0)
    """Data sweep: fractions of the training split (nested prefixes of one shuffled order)."""
    dims: tuple[int, ...] = (4, 8, 16, 32, 64)
    """Embedding-dimension sweep at full data (the reference's `dim` is one of them or is added)."""
    widths: tuple[int, ...] = (16, 32, 64, 128, 256)
    """Top-MLP width sweep at full data: hidden layers (w, w/2)."""
    dim: int = 16
    """The reference model's embedding dimension (the data sweep's model)."""
    width: int = 64
    """The reference model's top-MLP width: hidden layers (width, width/2)."""
    bottom_hidden: tuple[int, ...] = (64,)
    """Bottom-MLP hidden widths between the dense input and the embedding dimension."""
    order_seed: int = 0
    """Seed of the one shuffled order whose prefixes are the data fractions (the same for every training seed)."""
    lr_grid: tuple[float, ...] = (3e-4, 1e-3)
    """Adam learning rates each sweep point is tuned over (on the tuning seed, by validation NE)."""
    tuning_seed: int = 1000
    """The seed of the tuning trials; outside the evaluated seeds 0..N-1."""
    max_steps: int = 3000
    """Most training steps per point (epochs are cut to it); early stopping ends a point before."""
    eval_every_steps: int = 20
    """Evaluate validation and test every N steps."""
    patience: int = 3
    """Evaluations without a better validation NE before stopping."""
    replicates: int = 1000
    """Bootstrap replicates of each fit."""
    level: float = 0.9
    """Level of the bootstrap intervals."""
