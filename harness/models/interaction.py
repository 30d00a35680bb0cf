"""DLRM's dot-product feature interaction (Naumov et al. 2019, arXiv 1906.00091, Sec. 3, Eq. 1-2).

The dense vector from the bottom MLP and the pooled embedding of every sparse feature are
stacked into ``[batch, F + 1, D]``; all pairwise dot products between distinct vectors form the
interaction, concatenated with the dense vector and fed to the top MLP. Same layout as TorchRec's
``torchrec.models.dlrm.InteractionArch`` (upper triangle, no self-interaction).
"""

from __future__ import annotations

import torch
from torch import nn


class DotInteraction(nn.Module):
    """Pairwise dot products of `num_sparse_features + 1` vectors, plus the dense vector.

    Output width: ``D + (F + 1) * F / 2`` for ``F`` sparse features of dimension ``D``.
    """

    def __init__(self, num_sparse_features: int) -> None:
        super().__init__()
        n = num_sparse_features + 1
        rows, cols = torch.triu_indices(n, n, offset=1)
        # one flat index per pair: index_select on the flattened Gram matrix is much cheaper
        # (forward and backward) than advanced indexing with two index tensors
        self.register_buffer("pairs", rows * n + cols, persistent=False)
        self.num_pairs = rows.numel()

    def output_dim(self, embedding_dim: int) -> int:
        """The width of the top MLP's input for embeddings of `embedding_dim`."""
        return embedding_dim + self.num_pairs

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        """Map dense ``[B, D]`` and pooled embeddings ``[B, F, D]`` to ``[B, D + F(F+1)/2]``."""
        stacked = torch.cat([dense.unsqueeze(1), sparse], dim=1)
        gram = torch.bmm(stacked, stacked.transpose(1, 2))
        return torch.cat([dense, gram.flatten(1).index_select(1, self.pairs)], dim=1)
