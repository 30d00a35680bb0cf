"""The 4-bit embedding quantization reproduction's profile parameters (``[profiles.*.params]``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.params import DataParams


@dataclass(frozen=True)
class Params(DataParams):
    """A DLRM trained in FP32 on Criteo, then its tables quantized to 4 bits (Guan et al. 2019)."""

    methods: tuple[str, ...] = ("minmax", "greedy", "codebook")
    """Quantizers applied to the trained tables (harness.embeddings.quant4bit)."""
    dim: int = 64
    """Embedding dimension."""
    bottom: tuple[int, ...] = (13, 512, 256, 64)
    """Bottom MLP widths, from the dense input to the embedding dimension."""
    top: tuple[int, ...] = (512, 256, 1)
    """Top MLP widths after the interaction, ending in the logit."""
    epochs: int = 1
    """Passes over the training split."""
    lr: float = 0.01
    """Learning rate."""
    optimizer: str = "adagrad"
    """Optimizer of every parameter (harness.train.optim)."""
    max_steps: int | None = None
    """Stop training after N steps."""
