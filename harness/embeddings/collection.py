"""A KeyedJaggedTensor front-end over arbitrary per-feature tables, shaped like TorchRec's EBC.

TorchRec's ``EmbeddingBagCollection`` only holds plain tables. The compression tricks (QR,
mixed dimensions, hashing, 4-bit) are other ``nn.EmbeddingBag``-like modules; this collection
pools each feature of a ``KeyedJaggedTensor`` through its own module and returns a
``KeyedTensor``, so a model written against EBC (``forward(kjt) -> KeyedTensor``) can take
either without change.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor, KeyedTensor


class TableCollection(nn.Module):
    """Pool every feature of a KJT through its own table module; returns a ``KeyedTensor``.

    `tables` maps feature name to a module called as ``table(values, offsets)`` and returning
    ``[batch, dim]`` (``nn.EmbeddingBag``, :class:`~.qr.QREmbeddingBag`, ...). Output keys follow
    the order of `tables`.
    """

    def __init__(self, tables: Mapping[str, nn.Module], dims: Mapping[str, int]) -> None:
        super().__init__()
        if set(tables) != set(dims):
            raise ValueError(f"tables and dims name different features: {sorted(set(tables) ^ set(dims))}")
        self.tables = nn.ModuleDict(dict(tables))
        self.feature_names = list(tables)
        self.dims = [int(dims[name]) for name in self.feature_names]

    def forward(self, features: KeyedJaggedTensor) -> KeyedTensor:
        """``KeyedTensor`` of pooled embeddings, one ``[batch, dim]`` block per feature."""
        jagged = features.to_dict()
        pooled = [self.tables[name](jagged[name].values(), jagged[name].offsets()[:-1]).float()
                  for name in self.feature_names]
        return KeyedTensor(keys=self.feature_names, length_per_key=self.dims, values=torch.cat(pooled, dim=1))
