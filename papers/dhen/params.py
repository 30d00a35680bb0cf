"""The DHEN reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.ctr_zoo import ZooParams


@dataclass(frozen=True)
class Params(ZooParams):
    """DHEN against its AdvancedDLRM baseline and a mixture-of-experts widening, in one training pass (Zhang et al. 2022).

    Defaults follow the small Frappe setting of ../shared/research/spec-architectures-formats.md (Sec. 1.2).
    """

    epochs: int = 1
    """Passes over the training split: one, as the paper's online training (Table 2 reads it at checkpoints)."""
    patience: int | None = None
    """No early stopping: the pass is read at its checkpoints."""
    checkpoints: tuple[float, ...] = (0.2, 0.6, 1.0)
    """Fractions of the pass at which test NE/AUC are read (Table 2's 5B / 15B / 25B examples)."""
    layers: tuple[int, ...] = (1, 2, 4)
    """DHEN depths N, each trained as ``dhen_n<N>``."""
    modules: tuple[str, ...] = ("dlrm", "linear")
    """Interaction modules of every layer (the paper's main pair: AdvancedDLRM + Linear)."""
    ensemble: str = "sum"
    """How a layer combines its modules: sum, weighted or concat (Eq. 1)."""
    dlrm_hidden: tuple[int, ...] = (64,)
    """MLP widths inside each AdvancedDLRM module (Eq. 3)."""
    head: tuple[int, ...] = (64, 32)
    """DHEN's prediction MLP hidden widths; the AdvancedDLRM baseline's top MLP is ``dlrm_top``."""
    moe_experts: tuple[int, ...] = (4, 8)
    """Expert counts of the mixture-of-experts baselines (Table 3: 4, 8, 16), one per entry of ``moe_matches``."""
    moe_matches: tuple[int, ...] = (2, 4)
    """The DHEN depth each MoE of ``moe_experts`` is compared with at (about) equal FLOPs; the MoE runs as ``moe_n<depth>``."""
