"""FinalMLP (Mao, Zhu, Xiao, Dai, Wang, Zhang; AAAI 2023, arXiv 2304.00902, Sec. 3).

Two MLP streams read the same flattened field embeddings ``e``, each through its own feature
gating (the paper's stream-specific feature selection): ``g = 2 sigmoid(MLP(c))``, ``h = g * e``, where the context ``c`` is the
embeddings of chosen context fields or, when none are chosen, a learned vector (FuxiCTR's default,
``fs1_context = []``; the gate then depends on no input and learns a per-coordinate scale). The
stream outputs ``o_1, o_2`` meet in the paper's stream-level fusion, multi-head bilinear:
``y = b + w_1^T o_1 + w_2^T o_2 + sum_h o_1h^T W_3h o_2h``, each stream's output cut into
`num_heads` equal chunks. Layer order, initialisation of ``W_3`` (Xavier-normal over the flattened
heads) and the zero-initialised context vectors follow the authors' code (reczoo/FuxiCTR
``model_zoo/FinalMLP``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from harness.models.dlrm import SparseDenseBatch
from harness.models.fields import FieldEmbeddings
from harness.models.mlp import MLP


class FeatureGating(nn.Module):
    """Stream-specific feature selection: ``x * 2 sigmoid(MLP(context))``.

    `context_fields` index the fields of the stack ``[B, n, d]`` whose embeddings form the context;
    empty: a learned context vector of width ``d``, zero-initialised. `hidden` are the gate MLP's
    hidden widths (ReLU); its output layer has the width of the flattened stack.
    """

    def __init__(self, num_fields: int, dim: int, hidden: Sequence[int], context_fields: Sequence[int] = ()) -> None:
        super().__init__()
        self.context_fields = list(context_fields)
        context_dim = dim * max(1, len(self.context_fields))
        self.context = nn.Parameter(torch.zeros(1, context_dim)) if not self.context_fields else None
        self.gate = MLP([context_dim, *hidden, num_fields * dim], activate_last=False)

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        """The gated flattened stack ``[B, n*d]`` of ``stack [B, n, d]``."""
        if self.context is not None:
            context = self.context.expand(stack.shape[0], -1)
        else:
            context = stack[:, self.context_fields].flatten(1)
        return stack.flatten(1) * (2 * torch.sigmoid(self.gate(context)))


class BilinearFusion(nn.Module):
    """Multi-head bilinear fusion of two stream outputs into one logit per example (stream-level fusion)."""

    def __init__(self, dim_1: int, dim_2: int, num_heads: int = 1) -> None:
        super().__init__()
        if dim_1 % num_heads or dim_2 % num_heads:
            raise ValueError(f"the stream widths {dim_1} and {dim_2} must be multiples of num_heads={num_heads}")
        self.num_heads = num_heads
        self.linear_1 = nn.Linear(dim_1, 1)
        self.linear_2 = nn.Linear(dim_2, 1)
        self.bilinear = nn.Parameter(torch.empty(num_heads, dim_1 // num_heads, dim_2 // num_heads))
        # Xavier-normal of W_3 flattened to [heads * h_1 * h_2, 1], as FuxiCTR initialises it.
        nn.init.normal_(self.bilinear, std=(2.0 / (self.bilinear.numel() + 1)) ** 0.5)

    def forward(self, o_1: torch.Tensor, o_2: torch.Tensor) -> torch.Tensor:
        """``b + w_1^T o_1 + w_2^T o_2 + sum_h o_1h^T W_3h o_2h``: logits ``[B]``."""
        heads_1 = o_1.view(o_1.shape[0], self.num_heads, -1)
        heads_2 = o_2.view(o_2.shape[0], self.num_heads, -1)
        bilinear = torch.einsum("bhi,hij,bhj->b", heads_1, self.bilinear, heads_2)
        return self.linear_1(o_1).squeeze(1) + self.linear_2(o_2).squeeze(1) + bilinear


class FinalMLP(nn.Module):
    """Two gated MLP streams over the field embeddings fused bilinearly; logits ``[B]`` (Sec. 3).

    `mlp_1` / `mlp_2` are the streams' hidden widths (ReLU after every layer, no output layer);
    `gate_hidden` the gates' hidden widths (``()``: a single linear gate layer; None: no feature
    gating, both streams read ``e``);
    `context_1` / `context_2` the gates' context fields; `num_heads` the fusion heads.
    """

    def __init__(self, fields: FieldEmbeddings, mlp_1: Sequence[int], mlp_2: Sequence[int],
                 gate_hidden: Sequence[int] | None = (), num_heads: int = 1, context_1: Sequence[int] = (),
                 context_2: Sequence[int] = (), dropout: float = 0.0, batch_norm: bool = False) -> None:
        super().__init__()
        if not mlp_1 or not mlp_2:
            raise ValueError("each FinalMLP stream needs at least one hidden layer")
        self.fields = fields
        n, d = fields.num_fields, fields.dim
        self.gate_1 = FeatureGating(n, d, gate_hidden, context_1) if gate_hidden is not None else None
        self.gate_2 = FeatureGating(n, d, gate_hidden, context_2) if gate_hidden is not None else None
        self.stream_1 = MLP([n * d, *mlp_1], activate_last=True, dropout=dropout, batch_norm=batch_norm)
        self.stream_2 = MLP([n * d, *mlp_2], activate_last=True, dropout=dropout, batch_norm=batch_norm)
        self.fusion = BilinearFusion(mlp_1[-1], mlp_2[-1], num_heads)

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """Logits ``[B]`` of a batch with ``dense_features`` and ``sparse_features``."""
        stack = self.fields(batch)
        input_1 = self.gate_1(stack) if self.gate_1 is not None else stack.flatten(1)
        input_2 = self.gate_2(stack) if self.gate_2 is not None else stack.flatten(1)
        return self.fusion(self.stream_1(input_1), self.stream_2(input_2))
