"""The KJT table collection pools like TorchRec's EmbeddingBagCollection."""

from __future__ import annotations

import torch
from torchrec.modules.embedding_configs import EmbeddingBagConfig
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from harness.embeddings.collection import TableCollection


def test_plain_tables_match_embedding_bag_collection() -> None:
    ebc = EmbeddingBagCollection(tables=[
        EmbeddingBagConfig(name=f"t_{f}", embedding_dim=4, num_embeddings=10, feature_names=[f]) for f in ("a", "b")])
    tables = {f: torch.nn.EmbeddingBag(10, 4, mode="sum") for f in ("a", "b")}
    for f, table in tables.items():
        table.weight.data.copy_(ebc.embedding_bags[f"t_{f}"].weight.data)
    ours = TableCollection(tables, {"a": 4, "b": 4})
    kjt = KeyedJaggedTensor.from_lengths_sync(keys=["a", "b"], values=torch.tensor([1, 2, 3, 4, 5, 9]),
                                              lengths=torch.tensor([1, 0, 2, 1, 1, 1]))
    expected, got = ebc(kjt), ours(kjt)
    assert got.keys() == expected.keys()
    torch.testing.assert_close(got.values(), expected.values())
