"""Distributed Equivalent Substitution (Rong et al., arXiv 1909.04823 v5): a DeepFM whose weights-rich
operators are sums over features, trained table-wise on N processes without moving embeddings.

:class:`DeepFM` is the single-process model: logistic regression over dimension-1 tables, the FM
pairwise term over dimension-``k`` field embeddings (Rendle 2010, Lemma 3.1) and a deep MLP over the
concatenated embeddings with the dense features. Every operator that touches the tables is a *sum
over features* of per-feature terms, so a rank holding a block of tables computes a partial result
for every sample of the global batch and the partials add up (the paper's Fig. 2, DES strategy):

* linear: ``z = sum_i w_i`` (1 float per sample);
* FM: ``S = sum_i v_i`` (``k`` floats) and ``q = sum_i ||v_i||^2`` (1 float), then
  ``1/2 (||S||^2 - q)`` after the sum: exact, because the square comes after the global sum;
* the deep MLP's first layer: ``W1 concat(v) = sum_w W1[:, cols_w] v_w`` (``h`` floats).

:meth:`DeepFM.partials` gives the ``[B, 2 + k + h]`` partial block, :class:`DeepFMHead` the rest.
:func:`des_shard` cuts a rank's part (its tables, its column block of ``W1``, a copy of the head);
:func:`des_logits` sums the partials over the ranks (one all-reduce of ``B (2 + k + h)`` floats,
backward none: every rank computes the same head on the same sums). The baseline
:func:`mesh_logits` is table-wise model parallelism that moves embeddings (the paper's "mesh-based"
strategy, TorchRec's table-wise sharding): each owner pools its tables for the whole batch and an
all-to-all sends every sample's vectors to the rank that owns the sample; the gradients come back
the same way and the dense parameters' gradients are all-reduced.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torchrec.modules.embedding_configs import EmbeddingBagConfig, PoolingType
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from harness.cluster.exchange import FLOAT_BYTES, blocks, exchange, replicated_sum
from harness.models.dlrm import SparseDenseBatch
from harness.models.mlp import MLP


def _tables(features: list[str], sizes: list[int], dim: int, prefix: str) -> list[EmbeddingBagConfig]:
    return [EmbeddingBagConfig(name=f"{prefix}_{name}", embedding_dim=dim, num_embeddings=rows,
                               feature_names=[name], pooling=PoolingType.SUM)
            for name, rows in zip(features, sizes)]


class DeepFMHead(nn.Module):
    """What follows the partial sums: the FM square, the deep MLP after its first layer, the bias; logits ``[B]``."""

    def __init__(self, dim: int, num_dense: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.dim = dim
        self.bias = nn.Parameter(torch.zeros(1))
        self.dense = nn.Linear(num_dense, hidden[0])
        self.deep = MLP([*hidden, 1], activate_last=False)

    def forward(self, sums: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """Logits from the summed ``[z, S, q, h]`` block and the dense features."""
        k = self.dim
        z, s, q, h = sums[:, 0], sums[:, 1:1 + k], sums[:, 1 + k], sums[:, 2 + k:]
        fm = 0.5 * (s.square().sum(dim=1) - q)
        deep = self.deep(torch.relu(h + self.dense(dense))).squeeze(1)
        return self.bias + z + fm + deep


class DeepFM(nn.Module):
    """Linear + FM + deep over the tables of `features`; ``forward = head(partials(ids), dense)``.

    `first` is the deep MLP's first layer without its bias (the bias is the head's dense layer's), over
    the concatenated field embeddings; on a rank's shard it is that rank's column block.
    """

    def __init__(self, features: list[str], sizes: list[int], dim: int, num_dense: int,
                 hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.features, self.dim, self.hidden = list(features), dim, tuple(hidden)
        self.factors = EmbeddingBagCollection(tables=_tables(self.features, sizes, dim, "v"))
        self.weights = EmbeddingBagCollection(tables=_tables(self.features, sizes, 1, "w"))
        self.first = nn.Linear(len(features) * dim, hidden[0], bias=False)
        self.head = DeepFMHead(dim, num_dense, hidden)

    @property
    def width(self) -> int:
        """Floats per sample of the partial block: ``2 + k + h``."""
        return 2 + self.dim + self.hidden[0]

    def lookup(self, ids: KeyedJaggedTensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled factors ``[B, F, k]`` and weights ``[B, F]`` of this module's features."""
        factors = self.factors(ids).values().view(-1, len(self.features), self.dim)
        return factors, self.weights(ids).values()

    def partials_from(self, factors: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``[z, S, q, h]`` ``[B, 2 + k + h]`` of pooled factors and weights (sums over the features given)."""
        z = weights.sum(dim=1, keepdim=True)
        s = factors.sum(dim=1)
        q = factors.square().sum(dim=(1, 2)).unsqueeze(1)
        return torch.cat([z, s, q, self.first(factors.flatten(1))], dim=1)

    def partials(self, ids: KeyedJaggedTensor) -> torch.Tensor:
        """The partial block of this module's features for every sample of `ids`."""
        return self.partials_from(*self.lookup(ids))

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """Logits ``[B]``."""
        return self.head(self.partials(batch.sparse_features), batch.dense_features)


def owned_features(ids: KeyedJaggedTensor, owned: range) -> KeyedJaggedTensor:
    """The features of the contiguous block `owned` out of a KJT holding every feature in model order."""
    total = len(ids.keys())
    segments = [owned.start, len(owned), total - owned.stop]
    return ids.split(segments)[1]


def des_shard(model: DeepFM, owned: range) -> DeepFM:
    """Rank's part of `model`: the tables of features `owned`, ``W1``'s column block for them, a copy of the head."""
    names = model.features[owned.start:owned.stop]
    configs = model.factors.embedding_bag_configs()[owned.start:owned.stop]
    shard = DeepFM(names, [c.num_embeddings for c in configs], model.dim, model.head.dense.in_features, model.hidden)
    with torch.no_grad():
        for name in names:
            shard.factors.embedding_bags[f"v_{name}"].weight.copy_(model.factors.embedding_bags[f"v_{name}"].weight)
            shard.weights.embedding_bags[f"w_{name}"].weight.copy_(model.weights.embedding_bags[f"w_{name}"].weight)
        k = model.dim
        shard.first.weight.copy_(model.first.weight[:, owned.start * k:owned.stop * k])
    shard.head = copy.deepcopy(model.head)
    return shard


def des_logits(shard: DeepFM, owned: range, batch: SparseDenseBatch) -> torch.Tensor:
    """DES forward on this rank: its partials for the whole batch, summed over ranks, then the replicated head."""
    partial = shard.partials(owned_features(batch.sparse_features, owned))
    return shard.head(replicated_sum(partial), batch.dense_features)


@dataclass
class MeshRank:
    """One rank of the embedding-exchange baseline: its tables (a shard) and replicas of the dense parts."""

    tables: DeepFM
    dense: DeepFM  # full `first` and head; its tables are unused

    def dense_parameters(self) -> list[nn.Parameter]:
        """The data-parallel parameters: ``W1`` and the head, whose gradients are all-reduced."""
        return [*self.dense.first.parameters(), *self.dense.head.parameters()]

    def table_parameters(self) -> list[nn.Parameter]:
        """This rank's embedding tables."""
        return [*self.tables.factors.parameters(), *self.tables.weights.parameters()]


def mesh_rank(model: DeepFM, owned: range) -> MeshRank:
    """The baseline's part of rank owning `owned`: a table shard and a full copy of the dense parameters."""
    return MeshRank(des_shard(model, owned), copy.deepcopy(model))


def mesh_logits(rank: MeshRank, owned: range, world: int, me: int, batch: SparseDenseBatch) -> torch.Tensor:
    """Embedding exchange: pool owned tables for the whole batch, all-to-all to the samples' ranks, local head.

    Returns the logits of this rank's slice of the batch (rows ``me B/N .. (me+1) B/N``).
    """
    factors, weights = rank.tables.lookup(owned_features(batch.sparse_features, owned))
    size = factors.shape[0]
    k = rank.tables.dim
    mine = torch.cat([factors.flatten(1), weights], dim=1)  # [B, F_w (k + 1)]
    cuts = [(r + 1) * size // world - r * size // world for r in range(world)]
    counts = [len(b) for b in blocks(len(rank.dense.features), world)]
    lo, hi = me * size // world, (me + 1) * size // world
    received = exchange(mine.reshape(-1), [c * mine.shape[1] for c in cuts],
                        [(hi - lo) * n * (k + 1) for n in counts])
    parts = received.split([(hi - lo) * n * (k + 1) for n in counts])
    f_parts, w_parts = [], []
    for n, part in zip(counts, parts):
        block = part.view(hi - lo, n * (k + 1))
        f_parts.append(block[:, :n * k].reshape(hi - lo, n, k))
        w_parts.append(block[:, n * k:])
    sums = rank.dense.partials_from(torch.cat(f_parts, dim=1), torch.cat(w_parts, dim=1))
    return rank.dense.head(sums, batch.dense_features[lo:hi])


def des_payload_bytes(batch: int, dim: int, first_width: int) -> int:
    """Bytes of DES's one all-reduce per step: ``B (2 + k + h)`` float32 per rank (backward: none)."""
    return batch * (2 + dim + first_width) * FLOAT_BYTES


def dense_parameter_bytes(model: DeepFM) -> int:
    """Bytes of the data-parallel parameters (``W1`` and the head): the baseline's gradient all-reduce."""
    return sum(p.numel() * p.element_size() for p in [*model.first.parameters(), *model.head.parameters()])
