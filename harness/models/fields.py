"""The field-embedding front-end of the interaction models: a CTR batch -> ``X_0`` of shape ``[B, n, d]``.

FM, DCNv2, FinalMLP, Wukong and DHEN all start from the same stack of field embeddings (Wukong,
Zhang et al. 2024, Sec. 3.2; DHEN, Zhang et al. 2022, Sec. 3.1): each sparse feature pooled from
its table (:class:`~harness.models.embedding.PooledEmbeddings`, so TorchRec's
``EmbeddingBagCollection``, its fused kernels and sharding apply), and, where a dataset has dense
features, one more ``d``-vector from a bottom MLP over them, placed first as in DLRM (Naumov et al.
2019, Sec. 3). The models take this module as a constructor argument (composition, as
``torchrec.models`` take their embedding collection), so every model of a comparison can share one
front-end design and its tables are swapped in one place.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from harness.models.dlrm import SparseDenseBatch
from harness.models.embedding import Backend, PooledEmbeddings, make_tables
from harness.models.mlp import MLP


class FieldEmbeddings(nn.Module):
    """Pooled field embeddings (and a bottom-MLP vector of the dense features) stacked as ``[B, n, d]``.

    All tables must have the same width ``d``. With `num_dense` > 0 the dense features go through
    ``MLP([num_dense, *bottom, d])`` (ReLU after every layer) to field 0; ``n`` is then the number
    of sparse features + 1.
    """

    def __init__(self, embeddings: PooledEmbeddings, num_dense: int = 0, bottom: Sequence[int] = ()) -> None:
        super().__init__()
        dims = set(embeddings.dims)
        if len(dims) != 1:
            raise ValueError(f"the field embeddings need one width for every table, got widths {sorted(dims)}")
        self.sparse = embeddings
        self.dim = dims.pop()
        self.num_sparse = embeddings.num_features
        self.bottom = MLP([num_dense, *bottom, self.dim], activate_last=True) if num_dense else None
        self.num_fields = self.num_sparse + int(num_dense > 0)

    @property
    def output_dim(self) -> int:
        """Width of the flattened stack, ``n * d``."""
        return self.num_fields * self.dim

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """``X_0 [B, n, d]``: the dense vector (if any) then the sparse features in table order."""
        pooled = self.sparse(batch.sparse_features)
        sparse = pooled.view(pooled.shape[0], self.num_sparse, self.dim)
        if self.bottom is None:
            return sparse
        dense = self.bottom(batch.dense_features)
        return torch.cat([dense.unsqueeze(1), sparse.to(dense.dtype)], dim=1)


def field_embeddings(table_sizes: dict[str, int], dim: int, num_dense: int = 0, bottom: Sequence[int] = (),
                     backend: Backend = "torchrec", device: torch.device | None = None) -> FieldEmbeddings:
    """A :class:`FieldEmbeddings` with one sum-pooled table of width `dim` per key of `table_sizes`."""
    names = list(table_sizes)
    tables = make_tables(names, [table_sizes[n] for n in names], dim)
    return FieldEmbeddings(PooledEmbeddings.from_tables(tables, backend=backend, device=device), num_dense, bottom)


class FieldLinear(nn.Module):
    """A linear map along the field axis, ``X [B, n, d] -> W X [B, m, d]`` with ``W in R^{m x n}`` (+ bias).

    It recombines whole embeddings: Wukong's linear compression block (Zhang et al. 2024, Sec. 3.5)
    and residual projection (Sec. 3.3), DHEN's Linear module (Zhang et al. 2022, Eq. 6) and its
    shortcut ``W_n X_n`` (Eq. 2). The bias, if any, is one scalar per output field, broadcast over ``d``.
    """

    def __init__(self, num_inputs: int, num_outputs: int, bias: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(num_inputs, num_outputs, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, n, d]`` -> ``[B, m, d]``."""
        return self.linear(x.transpose(1, 2)).transpose(1, 2)
