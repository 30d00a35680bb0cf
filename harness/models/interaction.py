"""DLRM's dot-product feature interaction (Naumov et al. 2019, arXiv 1906.00091, Sec. 3, Eq. 1-2).

The dense vector from the bottom MLP and the pooled embedding of every sparse feature are
stacked into ``[batch, F + 1, D]``; all pairwise dot products between distinct vectors form the
interaction, concatenated with the dense vector and fed to the top MLP. Same layout as TorchRec's
``torchrec.models.dlrm.InteractionArch`` (upper triangle, no self-interaction).
"""

from __future__ import annotations

import torch
from torch import nn


class _PairwiseDots(torch.autograd.Function):
    """Dot products of the vector pairs ``pairs`` (flat indices into the Gram matrix) of ``x [B, n, d]``.

    Autograd through ``bmm(x, x^T)`` would run two batched matmuls and a scatter-add backward;
    here the Gram matrix's symmetry gives ``grad_x = (G + G^T) x`` with ``G`` the upstream
    gradient placed at the pairs: one batched matmul and a plain index-put.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, pairs)
        return torch.bmm(x, x.transpose(1, 2)).flatten(1).index_select(1, pairs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        x, pairs = ctx.saved_tensors
        batch, n, _ = x.shape
        upper = grad.new_zeros(batch, n * n)
        upper[:, pairs] = grad
        upper = upper.view(batch, n, n)
        return torch.bmm(upper + upper.transpose(1, 2), x), None


class DotInteraction(nn.Module):
    """Pairwise dot products of `num_sparse_features + 1` vectors, plus the dense vector.

    Output width: ``D + (F + 1) * F / 2`` for ``F`` sparse features of dimension ``D``.
    """

    def __init__(self, num_sparse_features: int) -> None:
        super().__init__()
        n = num_sparse_features + 1
        rows, cols = torch.triu_indices(n, n, offset=1)
        self.register_buffer("pairs", rows * n + cols, persistent=False)
        self.num_pairs = rows.numel()

    def output_dim(self, embedding_dim: int) -> int:
        """The width of the top MLP's input for embeddings of `embedding_dim`."""
        return embedding_dim + self.num_pairs

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        """Map dense ``[B, D]`` and pooled embeddings ``[B, F, D]`` to ``[B, D + F(F+1)/2]``."""
        stacked = torch.cat([dense.unsqueeze(1), sparse], dim=1)
        return torch.cat([dense, _PairwiseDots.apply(stacked, self.pairs)], dim=1)
