"""Deep & Cross Network, DCN (Wang, Fu, Fu, Wang 2017, arXiv 1708.05123, Sec. 2 and Fig. 1).

Each sparse feature is pooled from its table (Eq. 1) and the embeddings are stacked with the dense
features into ``x_0 = [x_embed,1, ..., x_embed,k, x_dense]`` (Eq. 2). Two networks read ``x_0``
in parallel: the cross network ``x_{l+1} = x_0 x_l^T w_l + b_l + x_l`` (Eq. 3, TorchRec's
:class:`~harness.models.cross.VectorCrossNet`) and a deep ReLU MLP
``h_{l+1} = ReLU(W_l h_l + b_l)`` (Eq. 4). Their outputs are concatenated and one linear logit layer
gives ``p = sigmoid([x_L1, h_L2] w_logits)`` (Eq. 5; the sigmoid lives in the loss). The QR paper
(Shi et al. 2020, arXiv 1909.02107) uses DCN with 6 cross layers and a 512-256-64 deep network.

The sparse front-end is the DLRM's (:class:`~harness.models.embedding.PooledEmbeddings`), passed
in by the caller, so the embedding studies give both models the same compressed tables.
"""

from __future__ import annotations

import torch
from torch import nn
from torchrec.modules.embedding_configs import EmbeddingBagConfig

from harness.models.cross import VectorCrossNet
from harness.models.dlrm import SparseDenseBatch
from harness.models.embedding import Backend, PooledEmbeddings
from harness.models.mlp import MLP


class DCN(nn.Module):
    """Embedding-and-stacking + (cross network || deep network) + logit layer, returning logits ``[B]``.

    `sparse` is the embedding front-end, `num_dense` the width of the dense features (13 on
    Criteo), `cross_layers` the number of cross layers ``L1``, `deep` the deep network's widths
    after its input ``x_0`` (e.g. ``[512, 256, 64]``). The logit layer is linear with a bias, over
    ``len(x_0) + deep[-1]`` inputs. Tables may have different widths: ``x_0`` is simply their
    concatenation.
    """

    def __init__(self, sparse: PooledEmbeddings, num_dense: int, cross_layers: int, deep: list[int],
                 device: torch.device | None = None) -> None:
        super().__init__()
        if cross_layers < 1:
            raise ValueError(f"DCN needs at least one cross layer, got {cross_layers}")
        if not deep:
            raise ValueError("DCN needs at least one deep layer width")
        self.sparse = sparse
        self.input_dim = self.sparse.output_dim + num_dense
        self.cross = VectorCrossNet(in_features=self.input_dim, num_layers=cross_layers)
        self.deep = MLP([self.input_dim, *deep], activate_last=True)
        self.logit = nn.Linear(self.input_dim + deep[-1], 1)
        if device is not None:
            self.to(device)

    @classmethod
    def from_tables(cls, num_dense: int, tables: list[EmbeddingBagConfig], cross_layers: int, deep: list[int],
                    backend: Backend = "torchrec", device: torch.device | None = None) -> "DCN":
        """A DCN over plain tables (:meth:`PooledEmbeddings.from_tables`)."""
        return cls(PooledEmbeddings.from_tables(tables, backend=backend, device=device), num_dense, cross_layers,
                   deep, device=device)

    def stack(self, batch: SparseDenseBatch) -> torch.Tensor:
        """``x_0 = [pooled embeddings in table order, dense features]``: ``[B, input_dim]`` (Eq. 2)."""
        dense = batch.dense_features
        return torch.cat([self.sparse(batch.sparse_features).to(dense.dtype), dense], dim=1)

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """Logits ``[B]`` of a batch with ``dense_features`` and ``sparse_features`` (Eq. 2-5)."""
        x0 = self.stack(batch)
        return self.logit(torch.cat([self.cross(x0), self.deep(x0)], dim=1)).squeeze(1)
