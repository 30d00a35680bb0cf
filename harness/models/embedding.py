"""The sparse front-end: pooled embedding lookups of a KeyedJaggedTensor, TorchRec or plain PyTorch.

``backend="torchrec"`` uses :class:`torchrec.EmbeddingBagCollection`, the module the trainer
turns into FBGEMM's fused table-batched kernel (``FusedEmbeddingBagCollection``) or shards with
``DistributedModelParallel``. ``backend="torch"`` is a fallback of one ``nn.EmbeddingBag`` per
table (sparse gradients) for environments without FBGEMM. Both expose the same state-dict keys
(``collection.embedding_bags.<table>.weight``), the same output layout and the same
initialisation (uniform in ``±sqrt(1/rows)``, as facebookresearch/dlrm and TorchRec do), so
weights move freely between them.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torchrec.modules.embedding_configs import EmbeddingBagConfig, PoolingType
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor, KeyedTensor

Backend = Literal["torchrec", "torch"]
BACKENDS: tuple[str, ...] = ("torchrec", "torch")


def make_tables(feature_names: list[str], num_embeddings: list[int], dim: int) -> list[EmbeddingBagConfig]:
    """One sum-pooled table of `dim` columns per feature (the DLRM layout: table ``t_<name>``)."""
    if len(feature_names) != len(num_embeddings):
        raise ValueError(f"{len(feature_names)} feature names but {len(num_embeddings)} table sizes")
    return [EmbeddingBagConfig(name=f"t_{name}", embedding_dim=dim, num_embeddings=rows,
                               feature_names=[name], pooling=PoolingType.SUM)
            for name, rows in zip(feature_names, num_embeddings)]


class EmbeddingBagList(nn.Module):
    """Plain-PyTorch stand-in for ``EmbeddingBagCollection``: one sum ``nn.EmbeddingBag`` per table.

    Gradients are sparse (only looked-up rows), so torch's sparse-aware optimizers (SGD,
    Adagrad, SparseAdam) update rows, never a whole table.
    """

    def __init__(self, tables: list[EmbeddingBagConfig], device: torch.device | None = None) -> None:
        super().__init__()
        self.tables = tables
        self.embedding_bags = nn.ModuleDict()
        for table in tables:
            bag = nn.EmbeddingBag(table.num_embeddings, table.embedding_dim, mode="sum", sparse=True,
                                  include_last_offset=True, device=device)
            nn.init.uniform_(bag.weight, table.get_weight_init_min(), table.get_weight_init_max())
            self.embedding_bags[table.name] = bag
        self.feature_names = [name for table in tables for name in table.feature_names]
        self.dims = [table.embedding_dim for table in tables for _ in table.feature_names]

    def forward(self, features: KeyedJaggedTensor) -> KeyedTensor:
        """Pool each feature's bag with its table, in table order (EmbeddingBagCollection's order)."""
        jagged = features.to_dict()
        pooled = [self.embedding_bags[table.name](jagged[name].values(), jagged[name].offsets())
                  for table in self.tables for name in table.feature_names]
        return KeyedTensor(keys=self.feature_names, length_per_key=self.dims, values=torch.cat(pooled, dim=1))


def pooled_layout(collection: nn.Module) -> tuple[list[str], list[int]]:
    """The features a collection pools and the width of each, in its output order.

    TorchRec's ``EmbeddingBagCollection`` says it through its table configs; the other front-ends
    (:class:`EmbeddingBagList`, :class:`harness.embeddings.collection.TableCollection`) carry
    ``feature_names`` and ``dims``.
    """
    if isinstance(collection, EmbeddingBagCollection):
        configs = collection.embedding_bag_configs()
        return ([name for t in configs for name in t.feature_names],
                [t.embedding_dim for t in configs for _ in t.feature_names])
    return list(collection.feature_names), [int(d) for d in collection.dims]  # type: ignore[union-attr, arg-type]


class PooledEmbeddings(nn.Module):
    """The sparse front-end of a CTR model: KeyedJaggedTensor -> pooled embeddings ``[batch, output_dim]``.

    `collection` is any module mapping a KJT to a ``KeyedTensor`` (TorchRec's
    ``EmbeddingBagCollection``, :class:`EmbeddingBagList`, or a
    :class:`~harness.embeddings.collection.TableCollection` of compressed tables); the model that
    receives this front-end reads its ``num_features`` and ``output_dim``, computed from the
    collection itself. :meth:`from_tables` builds the plain-table front-end.
    """

    def __init__(self, collection: nn.Module) -> None:
        super().__init__()
        self.collection = collection
        self.keys, dims = pooled_layout(collection)
        self.dims = dims
        self.num_features = len(self.keys)
        self.output_dim = sum(dims)

    @classmethod
    def from_tables(cls, tables: list[EmbeddingBagConfig], backend: Backend = "torchrec",
                    device: torch.device | None = None) -> "PooledEmbeddings":
        """Plain tables: TorchRec's ``EmbeddingBagCollection`` (``torchrec``) or :class:`EmbeddingBagList` (``torch``)."""
        if backend == "torchrec":
            return cls(EmbeddingBagCollection(tables=tables, device=device))
        if backend == "torch":
            return cls(EmbeddingBagList(tables, device=device))
        raise ValueError(f"unknown embedding backend {backend!r}; known: {', '.join(BACKENDS)}")

    def forward(self, features: KeyedJaggedTensor) -> torch.Tensor:
        """The pooled embedding of every feature, concatenated in table order: ``[batch, output_dim]``.

        A sharded collection (DistributedModelParallel) returns features grouped by the rank
        that holds them; they are put back in table order here.
        """
        pooled = self.collection(features)
        if pooled.keys() == self.keys:
            return pooled.values()
        by_key = pooled.to_dict()
        return torch.cat([by_key[key] for key in self.keys], dim=1)
