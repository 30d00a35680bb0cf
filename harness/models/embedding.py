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
        self.keys = [name for table in tables for name in table.feature_names]
        self.lengths = [table.embedding_dim for table in tables for _ in table.feature_names]

    def forward(self, features: KeyedJaggedTensor) -> KeyedTensor:
        """Pool each feature's bag with its table, in table order (EmbeddingBagCollection's order)."""
        jagged = features.to_dict()
        pooled = [self.embedding_bags[table.name](jagged[name].values(), jagged[name].offsets())
                  for table in self.tables for name in table.feature_names]
        return KeyedTensor(keys=self.keys, length_per_key=self.lengths, values=torch.cat(pooled, dim=1))


class PooledEmbeddings(nn.Module):
    """KeyedJaggedTensor -> pooled embeddings ``[batch, sum of table dims]`` in table order."""

    def __init__(self, tables: list[EmbeddingBagConfig], backend: Backend = "torchrec",
                 device: torch.device | None = None) -> None:
        super().__init__()
        if backend == "torchrec":
            self.collection: nn.Module = EmbeddingBagCollection(tables=tables, device=device)
        elif backend == "torch":
            self.collection = EmbeddingBagList(tables, device=device)
        else:
            raise ValueError(f"unknown embedding backend {backend!r}; known: {', '.join(BACKENDS)}")
        self.backend = backend
        self.keys = [name for t in tables for name in t.feature_names]
        self.num_features = len(self.keys)
        self.feature_dims = [t.embedding_dim for t in tables for _ in t.feature_names]
        self.output_dim = sum(t.embedding_dim * len(t.feature_names) for t in tables)

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
