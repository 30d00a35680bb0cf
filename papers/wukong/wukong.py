"""The Wukong interaction stack (Zhang et al., "Wukong: Towards a Scaling Law for Large-Scale
Recommendation", ICML 2024, arXiv 2403.02545, Sec. 3).

Layer ``i`` maps the embedding stack ``X_i [B, n_i, d]`` to ``X_{i+1} [B, n_F + n_L, d]`` (Sec. 3.3):

    X_{i+1} = LN( concat(FMB(X_i), LCB(X_i)) + Res(X_i) )      concat along the embedding axis, FMB first
    FMB(X)  = reshape( MLP( LN( flatten( FM(X) ) ) ), (n_F, d) )  (Sec. 3.4)
    FM(X)   = X (X^T Y),  Y in R^{n x k}                        "optimized FM", n x k (Sec. 3.6, the default)
            = X X^T                                             basic FM (k = None)
    LCB(X)  = W_L X,  W_L in R^{n_L x n}                        (Sec. 3.5), no bias (harness FieldLinear)
    Res(X)  = X if n == n_F + n_L, else a linear map along the embedding axis (n -> n_F + n_L)

The choices the paper leaves open follow the authors'-benchmark implementation, reczoo/FuxiCTR
``model_zoo/WuKong`` (checked numerically against it in ``tests/wukong``): ``Y`` is a static
parameter drawn from N(0, 1) (the paper's attentive ``Y`` is optional); the FMB's MLP has a ReLU on
its output layer too and dropout only after its hidden layers; the residual projection has a bias;
the outer LayerNorm normalises each embedding over ``d`` (not over ``n x d``); the prediction head
is an MLP with batch normalisation over ``flatten(X_l)``.

Ablations of Fig. 4 (``ablate``): ``"fmb"`` / ``"lcb"`` multiply that block's output by zero,
``"residual"`` drops the residual; parameters stay, so model sizes are unchanged.
"""

from __future__ import annotations

from typing import Collection, Sequence

import torch
from torch import nn

from harness.models.dlrm import SparseDenseBatch
from harness.models.fields import FieldEmbeddings, FieldLinear
from harness.models.mlp import MLP

ABLATIONS = ("fmb", "lcb", "residual")


class OptimizedFM(nn.Module):
    """``X (X^T Y)`` (rank-`rank` projection, ``[B, n, k]``) or ``X X^T`` (`rank` None, ``[B, n, n]``), flattened."""

    def __init__(self, num_inputs: int, rank: int | None) -> None:
        super().__init__()
        self.projection = nn.Parameter(torch.randn(num_inputs, rank)) if rank is not None else None
        self.output_dim = num_inputs * (rank if rank is not None else num_inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, n, d]`` -> ``[B, n * k]`` (or ``[B, n * n]``)."""
        if self.projection is None:
            return torch.bmm(x, x.transpose(1, 2)).flatten(1)
        projected = torch.matmul(x.transpose(1, 2), self.projection)  # [B, d, k]
        return torch.bmm(x, projected).flatten(1)


class FactorizationMachineBlock(nn.Module):
    """FMB: ``reshape(MLP(LN(flatten(FM(X)))), (n_F, d))`` (Sec. 3.4); ``[B, n, d]`` -> ``[B, n_F, d]``.

    `hidden` are the MLP's hidden widths (ReLU, then `dropout`); its output layer (width
    ``n_F * d``) is followed by a ReLU.
    """

    def __init__(self, num_inputs: int, num_outputs: int, dim: int, rank: int | None, hidden: Sequence[int],
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.num_outputs, self.dim = num_outputs, dim
        self.fm = OptimizedFM(num_inputs, rank)
        self.norm = nn.LayerNorm(self.fm.output_dim)
        self.mlp: nn.Module = (MLP([self.fm.output_dim, *hidden], activate_last=True, dropout=dropout)
                               if hidden else nn.Identity())
        self.out = nn.Linear(hidden[-1] if hidden else self.fm.output_dim, num_outputs * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, n, d]`` -> ``[B, n_F, d]``."""
        hidden = self.mlp(self.norm(self.fm(x)))
        return torch.relu(self.out(hidden)).view(-1, self.num_outputs, self.dim)


class WukongLayer(nn.Module):
    """One Wukong layer: ``LN(concat(FMB(X), LCB(X)) + Res(X))`` (Sec. 3.3); ``[B, n, d]`` -> ``[B, n_F + n_L, d]``.

    `layer_norm` False drops the outer LayerNorm; `ablate` names branches to zero out (see the
    module docstring).
    """

    def __init__(self, num_inputs: int, num_fmb: int, num_lcb: int, dim: int, rank: int | None,
                 fmb_hidden: Sequence[int], dropout: float = 0.0, layer_norm: bool = True,
                 ablate: Collection[str] = ()) -> None:
        super().__init__()
        unknown = set(ablate) - set(ABLATIONS)
        if unknown:
            raise ValueError(f"unknown Wukong ablation(s) {sorted(unknown)}; known: {', '.join(ABLATIONS)}")
        self.fmb = FactorizationMachineBlock(num_inputs, num_fmb, dim, rank, fmb_hidden, dropout)
        self.lcb = FieldLinear(num_inputs, num_lcb)  # LCB: W_L X, no bias
        width = num_fmb + num_lcb
        self.residual = FieldLinear(num_inputs, width, bias=True) if num_inputs != width else None
        self.norm = nn.LayerNorm(dim) if layer_norm else None
        self.keep = {branch: float(branch not in ablate) for branch in ABLATIONS}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``X_i [B, n, d]`` -> ``X_{i+1} [B, n_F + n_L, d]``."""
        out = torch.cat([self.fmb(x) * self.keep["fmb"], self.lcb(x) * self.keep["lcb"]], dim=1)
        if self.keep["residual"]:
            out = out + (x if self.residual is None else self.residual(x))
        return self.norm(out) if self.norm is not None else out


class Wukong(nn.Module):
    """Field embeddings -> `num_layers` Wukong layers -> MLP head over ``flatten(X_l)``; logits ``[B]``.

    `num_fmb` / `num_lcb` are ``n_F`` / ``n_L`` (every layer outputs ``n_F + n_L`` embeddings);
    `rank` is the optimized FM's ``k``; `fmb_hidden` the FMB MLP's hidden widths; `head` the
    prediction MLP's hidden widths (batch norm if `head_batch_norm`, as FuxiCTR's default).
    """

    def __init__(self, fields: FieldEmbeddings, num_layers: int, num_fmb: int, num_lcb: int, rank: int | None,
                 fmb_hidden: Sequence[int], head: Sequence[int], dropout: float = 0.0, layer_norm: bool = True,
                 head_batch_norm: bool = True, ablate: Collection[str] = ()) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"Wukong needs at least one layer, got {num_layers}")
        self.fields = fields
        width = num_fmb + num_lcb
        self.layers = nn.Sequential(*(
            WukongLayer(fields.num_fields if i == 0 else width, num_fmb, num_lcb, fields.dim, rank, fmb_hidden,
                        dropout, layer_norm, ablate) for i in range(num_layers)))
        self.head = MLP([width * fields.dim, *head, 1], activate_last=False, batch_norm=head_batch_norm)

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """Logits ``[B]`` of a batch with ``dense_features`` and ``sparse_features``."""
        return self.head(self.layers(self.fields(batch)).flatten(1)).squeeze(1)
