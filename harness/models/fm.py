"""Factorization machine, FM (Rendle, ICDM 2010, Eq. 1 and Lemma 3.1).

``y = w_0 + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j``. With one-hot fields the linear part is
logistic regression (:class:`~harness.models.linear.LogisticRegression`) and ``v_i`` is field
``i``'s embedding, so the pairwise part over the field stack ``X [B, n, d]`` is computed in
``O(n d)`` by Lemma 3.1: ``1/2 sum_f [ (sum_i v_if)^2 - sum_i v_if^2 ]``.

TorchRec's ``torchrec.modules.deepfm.FactorizationMachine`` is not used: it flattens its input to
``[B, n*d]`` before the sum-square step, so it sums over every pair of *scalars* (across embedding
dimensions too), ``1/2 [(sum_{i,f} v_if)^2 - sum_{i,f} v_if^2]``, which is Rendle's FM only for
``d = 1`` (on one random ``n = 3, d = 4`` input it gave 7.13 where the pairwise loop gives 2.74;
tests/models/test_ctr_baselines.py pins this down).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.dlrm import SparseDenseBatch
from harness.models.fields import FieldEmbeddings
from harness.models.linear import LogisticRegression


class FMInteraction(nn.Module):
    """The FM's pairwise term ``sum_{i<j} <x_i, x_j>`` of a field stack ``[B, n, d]`` -> ``[B]`` (Lemma 3.1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``1/2 sum_f [(sum_i x_if)^2 - sum_i x_if^2]`` per example."""
        square_of_sum = x.sum(dim=1).square()
        sum_of_squares = x.square().sum(dim=1)
        return 0.5 * (square_of_sum - sum_of_squares).sum(dim=1)


class FM(nn.Module):
    """Logistic regression plus the pairwise FM term of the field embeddings; logits ``[B]`` (Rendle 2010, Eq. 1).

    `fields` supplies the factors ``v_i`` (width ``k`` = its table width); `linear` the bias and the
    per-value weights ``w_i`` (its own dimension-1 tables).
    """

    def __init__(self, fields: FieldEmbeddings, linear: LogisticRegression) -> None:
        super().__init__()
        self.fields = fields
        self.linear = linear
        self.interaction = FMInteraction()

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """Logits ``[B]`` of a batch with ``dense_features`` and ``sparse_features``."""
        return self.linear(batch) + self.interaction(self.fields(batch))
