"""Bag plumbing: 2-D fixed-length bags equal their 1-D form; mean pooling divides by bag length."""

from __future__ import annotations

import pytest
import torch

from harness.embeddings.bags import flatten_bags, pool_rows
from harness.embeddings.mixed_dim import MixedDimEmbeddingBag
from harness.embeddings.quant4bit import Fused4bitEmbeddingBag


def test_two_d_input_equals_one_d_bags() -> None:
    ids = torch.randint(0, 20, (5, 3))
    flat, offsets = flatten_bags(ids, None)
    assert torch.equal(flat, ids.reshape(-1)) and offsets.tolist() == [0, 3, 6, 9, 12]
    md = MixedDimEmbeddingBag(torch.arange(20) % 2, [4, 2], base_dim=4)
    torch.testing.assert_close(md(ids), md(flat, offsets))
    fused = Fused4bitEmbeddingBag.from_float(torch.randn(20, 4), "minmax", mode="mean")
    torch.testing.assert_close(fused(ids), fused(flat, offsets))


def test_mean_pooling_and_empty_bags() -> None:
    values = torch.tensor([[1.0], [3.0], [5.0]])
    pooled = pool_rows(values, torch.tensor([0, 2, 3]), "mean")
    assert pooled.squeeze(1).tolist() == [2.0, 5.0, 0.0]


def test_missing_offsets_are_rejected() -> None:
    with pytest.raises(ValueError, match="offsets"):
        flatten_bags(torch.arange(4), None)
