"""The DLRM reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.params import DataParams


@dataclass(frozen=True)
class Params(DataParams):
    """DLRM and logistic regression on Criteo with facebookresearch/dlrm's Kaggle recipe.

    Defaults are the reference configuration (``bench/dlrm_s_criteo_kaggle.sh``).
    """

    models: tuple[str, ...] = ("dlrm", "logreg", "dcn")
    """Which variants to train (see ``experiment.VARIANTS``)."""
    dim: int = 16
    """Embedding dimension (``--arch-sparse-feature-size``)."""
    bottom: tuple[int, ...] = (13, 512, 256, 64, 16)
    """Bottom MLP widths from the dense input to the embedding dimension (the input width is the data's)."""
    top: tuple[int, ...] = (512, 256, 1)
    """Top MLP widths after the interaction, ending in the logit."""
    cross_layers: int = 6
    """DCN: cross layers (the paper's Sec. 5.1 comparison: 6)."""
    deep: tuple[int, ...] = (512, 256)
    """DCN: deep network widths after its input (Sec. 5.1: 512-256)."""
    dcn_lr_grid: tuple[float, ...] = ()
    """DCN's own SGD learning rates, tried on `tuning_seed` (best validation AUC wins) while DLRM and
    logistic regression keep the reference `lr`; empty: DCN trains at `lr` too."""
    tuning_seed: int = 1000
    """The seed DCN's rate is chosen on; it must not be one of the evaluated seeds."""
    epochs: int = 1
    """Passes over the training split."""
    lr: float = 0.1
    """SGD learning rate of the MLPs and (fused) the tables."""
    sparse_optimizer: str = "sgd"
    """FBGEMM fused optimizer of the tables (sgd, rowwise_adagrad, adam)."""
    eval_every_steps: int | None = None
    """Evaluate every N steps (and at the end) instead of after each epoch."""
    checkpoint_every_steps: int | None = None
    """Checkpoint every N steps (for --resume)."""
    max_steps: int | None = None
    """Stop training after N steps."""
    precision: str = "fp32"
    """fp32, or bf16 autocast of the forward pass."""
    small_sample: bool = False
    """Announce in the protocol notes that a small sample stands in for the 45M-row dataset."""
