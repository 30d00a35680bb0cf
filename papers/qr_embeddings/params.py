"""The QR-embeddings reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.params import DataParams


@dataclass(frozen=True)
class Params(DataParams):
    """Every architecture x table variant on Criteo; defaults are the paper's DLRM/DCN (Shi et al. 2020, Sec. 5)."""

    architectures: tuple[str, ...] = ("dlrm", "dcn")
    """Models whose tables are compressed: dlrm (harness/models/dlrm.py), dcn (harness/models/dcn.py)."""
    models: tuple[str, ...] = ("full", "hashing_4", "qr_mult_4", "qr_add_4", "qr_concat_4", "hashing_60", "qr_mult_60")
    """Table variants: full, hashing_<collisions>, qr_<mult|add|concat>_<collisions>."""
    dim: int = 16
    """Embedding dimension."""
    bottom: tuple[int, ...] = (13, 512, 256, 64, 16)
    """DLRM bottom MLP widths, from the dense input to the embedding dimension."""
    top: tuple[int, ...] = (512, 256, 1)
    """DLRM top MLP widths after the interaction, ending in the logit."""
    cross_layers: int = 6
    """DCN cross layers."""
    deep: tuple[int, ...] = (512, 256, 64)
    """DCN deep network widths after its input."""
    threshold: int = 200
    """Tables with at most this many rows stay uncompressed (dlrm --qr-threshold)."""
    epochs: int = 1
    """Passes over the training split."""
    lr: float = 0.01
    """Learning rate."""
    optimizer: str = "adagrad"
    """Optimizer of every parameter (harness.train.optim)."""
    max_steps: int | None = None
    """Stop training after N steps."""
