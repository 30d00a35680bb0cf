"""Matrix factorization for collaborative filtering over a pluggable embedding front-end.

``r_hat(u, i) = <e_u, e_i> + b_u + b_i + b`` (Koren et al. 2009, Eq. 3): the MF model of the
mixed-dimension paper's collaborative-filtering experiments (Ginart et al. 2019, Sec. 4) and a
simple embedding-dominated model for the frequency-aware SGD study (Li et al. 2022). The user and
item vectors come from any front-end that maps a KeyedJaggedTensor to a ``KeyedTensor``
(TorchRec's ``EmbeddingBagCollection``, or harness.embeddings' ``TableCollection`` of
mixed-dimension, QR or quantized tables), so the compression tricks plug in unchanged.
The output is a rating (explicit protocol, MSE loss) or a logit (implicit/CTR protocol).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor


class SparseBatch(Protocol):
    """A batch with a KeyedJaggedTensor of sparse features."""

    sparse_features: KeyedJaggedTensor


class MatrixFactorization(nn.Module):
    """Dot product of the user and item embeddings plus user, item and global biases.

    `embeddings` pools at least `user_key` and `item_key` (one id each per example) to vectors of
    equal width; `num_users` / `num_items` size the bias tables; `global_bias` starts the global
    bias (the mean training rating for explicit feedback, 0 for logits).
    """

    def __init__(self, embeddings: nn.Module, num_users: int, num_items: int, user_key: str = "user_id",
                 item_key: str = "item_id", global_bias: float = 0.0) -> None:
        super().__init__()
        self.sparse = embeddings
        self.user_key, self.item_key = user_key, item_key
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)
        self.global_bias = nn.Parameter(torch.tensor(float(global_bias)))

    def forward(self, batch: SparseBatch) -> torch.Tensor:
        """Predicted rating (or logit) per example: ``[B]``."""
        features = batch.sparse_features
        pooled = self.sparse(features).to_dict()
        users, items = features[self.user_key].values(), features[self.item_key].values()
        dot = (pooled[self.user_key] * pooled[self.item_key]).sum(dim=1)
        return dot + self.user_bias(users).squeeze(1) + self.item_bias(items).squeeze(1) + self.global_bias
