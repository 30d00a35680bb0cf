"""DLRM (Naumov et al. 2019, arXiv 1906.00091, Sec. 3 and Fig. 1).

:class:`DLRM` is the reference model over Criteo-style dense and sparse features;
:class:`FieldDLRM` the same interaction over a field-embedding front-end (data with no dense
features, such as Frappe), optionally with a mixture of experts as its top MLP.

Dense features go through the bottom MLP to a vector of the embedding dimension; each sparse
feature is pooled from its table; the dot interaction (Eq. 1-2) of these ``F + 1`` vectors,
concatenated with the dense vector, goes through the top MLP to one logit. The reference
Kaggle configuration (facebookresearch/dlrm ``bench/dlrm_s_criteo_kaggle.sh``) is bottom
13-512-256-64-16, top 512-256-1 and dimension 16.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

import torch
from torch import nn
from torchrec.modules.embedding_configs import EmbeddingBagConfig
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from harness.models.embedding import Backend, PooledEmbeddings
from harness.models.interaction import DotInteraction
from harness.models.mlp import MLP
from harness.models.moe import MixtureOfExperts

if TYPE_CHECKING:  # fields.py imports SparseDenseBatch from here
    from harness.models.fields import FieldEmbeddings


# The top MLP's input width is padded to a multiple of 16 floats (64 bytes): the Kaggle shape's
# 367 columns become 368, which made the fp32 step ~5% faster (PERFORMANCE.md).
INTERACTION_ALIGN = 16


class SparseDenseBatch(Protocol):
    """A CTR batch: dense features ``[B, 13]`` and sparse features as a KeyedJaggedTensor."""

    dense_features: torch.Tensor
    sparse_features: KeyedJaggedTensor


class DLRM(nn.Module):
    """Bottom MLP + pooled embeddings + dot interaction + top MLP, returning logits ``[B]``.

    The model is composed from its parts, as TorchRec's DLRM takes its ``EmbeddingBagCollection``:
    `bottom` is the dense arch (an :class:`MLP` from the dense input to the embedding dimension),
    `sparse` the embedding front-end (plain tables, or any compressed ones: QR, mixed dimensions,
    quantized); `top` lists the top MLP's widths after its input (the interaction width), ending
    in 1. The top MLP's last layer is linear (the logit); the sigmoid lives in the loss. Its first
    layer takes the interaction padded to :data:`INTERACTION_ALIGN` columns; the padding's
    weights are zero and stay zero (their input is zero), so the function is DLRM's exactly.
    Parts are initialised when they are built: :meth:`from_tables` builds the bottom MLP, then
    the tables, then the top MLP (facebookresearch/dlrm's order).
    """

    def __init__(self, bottom: MLP, sparse: PooledEmbeddings, top: list[int], device: torch.device | None = None) -> None:
        super().__init__()
        if set(sparse.dims) != {bottom.out_features}:
            raise ValueError(f"the bottom MLP ends at {bottom.out_features} but the front-end pools widths "
                             f"{sorted(set(sparse.dims))}; the dot interaction needs them equal")
        if top[-1] != 1:
            raise ValueError(f"the top MLP must end in one logit, got {top}")
        self.embedding_dim = bottom.out_features
        self.bottom = bottom
        self.sparse = sparse
        self.interaction = DotInteraction(self.sparse.num_features, align=INTERACTION_ALIGN)
        self.top = MLP([self.interaction.output_dim(self.embedding_dim), *top], activate_last=False)
        first = self.top.layers[0]
        assert isinstance(first, nn.Linear)
        with torch.no_grad():  # weights of the interaction's zero padding: zero, and never updated
            first.weight[:, self.interaction.interaction_dim(self.embedding_dim):] = 0
        if device is not None:
            self.to(device)

    @classmethod
    def from_tables(cls, bottom: list[int], top: list[int], tables: list[EmbeddingBagConfig],
                    backend: Backend = "torchrec", device: torch.device | None = None) -> "DLRM":
        """A DLRM over plain tables: bottom MLP widths `bottom` (dense input to embedding dimension),
        one table per config (:meth:`PooledEmbeddings.from_tables`), top MLP widths `top`."""
        dense = MLP(bottom, activate_last=True)
        return cls(dense, PooledEmbeddings.from_tables(tables, backend=backend, device=device), top, device=device)

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """Logits ``[B]`` of a batch with ``dense_features`` and ``sparse_features``."""
        dense = self.bottom(batch.dense_features)
        pooled = self.sparse(batch.sparse_features)
        sparse = pooled.view(-1, self.sparse.num_features, self.embedding_dim).to(dense.dtype)
        return self.top(self.interaction(dense, sparse)).squeeze(1)


class FieldDLRM(nn.Module):
    """DLRM over a field-embedding front-end, for datasets with few or no dense features; logits ``[B]``.

    The front-end (:class:`~harness.models.fields.FieldEmbeddings`) stacks the fields as ``X [B, n, d]``
    (a bottom-MLP vector of the dense features first, if any). The top MLP reads the pairwise dot
    products ``triu(X X^T, 1)`` (:class:`DotInteraction`), plus the dense vector when there is one
    (Naumov et al. 2019, Sec. 3; on data without dense features, as the BARS benchmark's DLRM,
    reczoo/FuxiCTR ``model_zoo/DLRM``, runs it on Frappe), plus the flattened embeddings when
    `with_embeddings` (DHEN's AdvancedDLRM reading, Zhang et al. 2022, Eq. 3). `top` lists the top
    MLP's hidden widths; the logit layer follows. With `experts` > 1 the hidden layers become that
    many softmax-gated experts (:class:`~harness.models.moe.MixtureOfExperts`) before the logit layer.
    """

    def __init__(self, fields: FieldEmbeddings, top: Sequence[int], with_embeddings: bool = False,
                 experts: int = 1) -> None:
        super().__init__()
        if not top:
            raise ValueError("the DLRM top MLP needs at least one hidden width")
        self.fields = fields
        n, d = fields.num_fields, fields.dim
        self.has_dense = fields.bottom is not None
        self.with_embeddings = with_embeddings
        self.interaction = DotInteraction(n - 1)
        width = self.interaction.num_pairs + (n * d if with_embeddings else d if self.has_dense else 0)
        self.features_dim = width
        self.top: nn.Module = (MLP([width, *top], activate_last=True) if experts == 1
                               else MixtureOfExperts(width, top, experts))
        self.logit = nn.Linear(top[-1], 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The top MLP's input: ``[flatten(X) or dense vector; triu(X X^T, 1)]``."""
        parts = [self.interaction(x[:, 0], x[:, 1:])[:, x.shape[2]:]]
        if self.with_embeddings:
            parts.insert(0, x.flatten(1))
        elif self.has_dense:
            parts.insert(0, x[:, 0])
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """Logits ``[B]`` of a batch with ``dense_features`` and ``sparse_features``."""
        return self.logit(self.top(self.features(self.fields(batch)))).squeeze(1)
