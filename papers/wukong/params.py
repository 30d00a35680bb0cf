"""The Wukong reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.ctr_zoo import ZooParams


@dataclass(frozen=True)
class Params(ZooParams):
    """Wukong against the CTR zoo on Frappe (Zhang et al. 2024, Table 2), its depth (Sec. 7.3) and Fig. 4's ablations.

    Sizes default to the small Frappe setting of ../shared/research/spec-architectures-formats.md
    (Sec. 2.2); the choices the paper leaves open follow reczoo/FuxiCTR ``model_zoo/WuKong``.
    """

    num_layers: int = 3
    """Wukong layers l of the main model (Sec. 3.3)."""
    depths: tuple[int, ...] = (1,)
    """Other layer counts trained as ``wukong_l<l>`` (the depth relation, Sec. 7.3)."""
    num_fmb: int = 8
    """n_F: embeddings out of each factorization machine block (Sec. 3.4)."""
    num_lcb: int = 8
    """n_L: embeddings out of each linear compression block (Sec. 3.5)."""
    rank: int = 8
    """k of the optimized FM (Sec. 3.6, the paper's default FM)."""
    fmb_hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of each FMB's MLP."""
    head: tuple[int, ...] = (64, 64)
    """Hidden widths of the prediction MLP (batch norm, FuxiCTR)."""
    dropout: float = 0.0
    """Dropout in the FMB MLPs (FuxiCTR's WuKong_default: 0)."""
    ablations: tuple[str, ...] = ("fmb", "lcb", "residual", "lcb+residual")
    """Fig. 4 ablations of the main model, each trained as ``ablate_<branches joined by _>``: fmb / lcb
    zero that block's output, residual drops the residual; '+' combines."""
