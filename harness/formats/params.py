"""Profile parameters of a number-format study (:mod:`harness.formats.study`), shared by MX and BDR.

Imports no torch: the registry validates every paper's parameters when it loads ``paper.toml``.
A paper subclasses :class:`FormatStudyParams` and sets its own formats as defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.params import DataParams


@dataclass(frozen=True)
class FormatStudyParams(DataParams):
    """QSNR on Gaussian data, and a DLRM trained in FP32 then direct-cast to each format (optionally one
    also trained in a format)."""

    dataset: str = "frappe"
    """A dataset id of harness.data.registry (`repro data list`)."""
    qsnr_formats: tuple[str, ...] = ()
    """Formats whose QSNR is measured on N(0, 1) data (names of harness.formats.registry)."""
    qsnr_values: int = 2**20
    """Gaussian values drawn per seed for the QSNR (a multiple of 1024)."""
    cast_formats: tuple[str, ...] = ()
    """Formats the trained FP32 DLRM is direct-cast to (every Linear and the interaction's inputs)."""
    cast_rounding: Literal["even", "away"] = "even"
    """Rounding of the direct casts: ties to even (OCP conversions)."""
    train_format: str = ""
    """A format the DLRM is also trained in (forward and backward); empty: no in-format training."""
    train_rounding: Literal["even", "away"] = "away"
    """Rounding of in-format training: ties away from zero (the MX emulator's 'nearest')."""
    dim: int = 16
    """Embedding dimension (and the bottom MLP's output)."""
    bottom_hidden: tuple[int, ...] = ()
    """Hidden widths of the bottom MLP between the dense features and ``dim`` (none for Frappe, which has
    no dense features)."""
    top: tuple[int, ...] = (64, 32, 1)
    """Top MLP widths after the interaction, ending in the logit."""
    epochs: int = 3
    """Passes over the training split."""
    lr: float = 0.01
    """Learning rate."""
    optimizer: str = "adam"
    """Optimizer of every parameter (harness.train.optim)."""
    max_steps: int | None = None
    """Stop training after N steps."""
