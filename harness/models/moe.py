"""A softmax-gated mixture of dense MLP experts for one output (Shazeer et al. 2017 without sparsity; MMoE with one task).

``y = sum_e g_e(x) f_e(x)`` with ``g = softmax(W_g x)`` and every expert ``f_e`` an MLP. All
experts run on every example (a *dense* mixture), so the cost grows linearly with their number:
how DHEN's Table 3 (Zhang et al. 2022) widens the AdvancedDLRM top MLP into 4, 8 and 16
experts, whose FLOPs grow about linearly with the count. The gate and experts are the
multi-task blocks of :mod:`harness.models.multitask`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from harness.models.multitask import ExpertGroup, Gate, mix


class MixtureOfExperts(nn.Module):
    """`num_experts` MLP experts of widths `dims` (ReLU after every layer) mixed by one softmax gate: ``[B, d_in] -> [B, dims[-1]]``."""

    def __init__(self, input_dim: int, dims: Sequence[int], num_experts: int) -> None:
        super().__init__()
        if num_experts < 1:
            raise ValueError(f"a mixture needs at least one expert, got {num_experts}")
        self.experts = ExpertGroup(input_dim, list(dims), num_experts)
        self.gate = Gate(input_dim, num_experts)
        self.out_features = self.experts.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The gate-weighted sum of the experts' outputs."""
        return mix(self.gate(x).unsqueeze(1), self.experts(x)).squeeze(1)
