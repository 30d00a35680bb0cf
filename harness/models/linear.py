"""Logistic regression over dense and one-hot sparse features: the classic CTR baseline.

``logit = w . dense + sum_f w_f[id_f] + b``: one weight per dense feature and one scalar per
categorical value (a dimension-1 embedding table per feature, sum-pooled), the model DLRM and
DCN are compared against in CTR work (e.g. Wang et al. 2017, DCN, Table 2 "LR").

FBGEMM's TBE needs dimensions that are multiples of 4, so the default backend here is the
plain-PyTorch one (sparse gradients, row-sparse torch optimisers), not a fused one.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.dlrm import SparseDenseBatch
from harness.models.embedding import Backend, PooledEmbeddings, make_tables


class LogisticRegression(nn.Module):
    """A linear model of the dense features plus per-value weights of the sparse ones; logits ``[B]``."""

    def __init__(self, num_dense: int, table_sizes: dict[str, int], backend: Backend = "torch") -> None:
        super().__init__()
        self.dense = nn.Linear(num_dense, 1)
        names = list(table_sizes)
        self.sparse = PooledEmbeddings.from_tables(make_tables(names, [table_sizes[n] for n in names], dim=1),
                                                   backend=backend)

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """Logits ``[B]`` of a batch with ``dense_features`` and ``sparse_features``."""
        return self.dense(batch.dense_features).squeeze(1) + self.sparse(batch.sparse_features).sum(dim=1)
