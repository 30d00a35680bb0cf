"""DLRM's dot-product feature interaction (Naumov et al. 2019, arXiv 1906.00091, Sec. 3, Eq. 1-2).

The dense vector from the bottom MLP and the pooled embedding of every sparse feature are
stacked into ``[batch, F + 1, D]``; all pairwise dot products between distinct vectors form the
interaction, concatenated with the dense vector and fed to the top MLP. Same layout as TorchRec's
``torchrec.models.dlrm.InteractionArch`` (upper triangle, no self-interaction).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _PairwiseDots(torch.autograd.Function):
    """Dot products of the vector pairs ``pairs`` (flat indices into the Gram matrix) of ``x [B, n, d]``.

    Autograd through ``bmm(x, x^T)`` would run two batched matmuls and a scatter-add backward.
    Here the Gram matrix's symmetry gives ``grad_x = S x`` with ``S`` the symmetric ``n x n``
    matrix holding pair ``k``'s upstream gradient at both ``(i, j)`` and ``(j, i)`` and zeros on
    the diagonal. ``S`` is built with one gather (`gram_to_pair`: the pair index of every Gram
    entry, or the index of an appended zero column), not a zero-fill, a scatter and a transposed
    add, which cost about 3x more on the DLRM Kaggle shape (PERFORMANCE.md).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, pairs: torch.Tensor,
                gram_to_pair: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, gram_to_pair)
        return torch.bmm(x, x.transpose(1, 2)).flatten(1).index_select(1, pairs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        x, gram_to_pair = ctx.saved_tensors
        batch, n, _ = x.shape
        symmetric = F.pad(grad, (0, 1)).index_select(1, gram_to_pair).view(batch, n, n)
        return torch.bmm(symmetric, x), None, None


class DotInteraction(nn.Module):
    """Pairwise dot products of `num_sparse_features + 1` vectors, plus the dense vector.

    Output width: ``D + (F + 1) * F / 2`` for ``F`` sparse features of dimension ``D``, rounded
    up to a multiple of `align` with zero columns. Alignment is a speed option, not a model
    change: a zero input column contributes nothing to the next layer and its weights get zero
    gradient. On the DLRM Kaggle shape the top MLP's 367-wide input padded to 368 (a whole number
    of 64-byte rows) made the training step about 5% faster on AVX2 (PERFORMANCE.md).
    """

    def __init__(self, num_sparse_features: int, align: int = 1) -> None:
        super().__init__()
        if align < 1:
            raise ValueError(f"align must be a positive number of columns, got {align}")
        n = num_sparse_features + 1
        rows, cols = torch.triu_indices(n, n, offset=1)
        self.num_pairs = rows.numel()
        self.align = align
        gram_to_pair = torch.full((n * n,), self.num_pairs, dtype=torch.long)
        gram_to_pair[rows * n + cols] = torch.arange(self.num_pairs)
        gram_to_pair[cols * n + rows] = torch.arange(self.num_pairs)
        self.register_buffer("pairs", rows * n + cols, persistent=False)
        self.register_buffer("gram_to_pair", gram_to_pair, persistent=False)

    def interaction_dim(self, embedding_dim: int) -> int:
        """The width of the interaction proper (dense vector plus pairs), without alignment padding."""
        return embedding_dim + self.num_pairs

    def output_dim(self, embedding_dim: int) -> int:
        """The width of the top MLP's input for embeddings of `embedding_dim`, padding included."""
        width = self.interaction_dim(embedding_dim)
        return width + (-width % self.align)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        """Map dense ``[B, D]`` and pooled embeddings ``[B, F, D]`` to ``[B, output_dim(D)]``."""
        stacked = torch.cat([dense.unsqueeze(1), sparse], dim=1)
        parts = [dense, _PairwiseDots.apply(stacked, self.pairs, self.gram_to_pair)]
        padding = self.output_dim(dense.shape[1]) - self.interaction_dim(dense.shape[1])
        if padding:
            parts.append(dense.new_zeros(dense.shape[0], padding))
        return torch.cat(parts, dim=1)
