"""QR compositional embeddings: degenerate cases, complementary partitions, the hashing baseline."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.embeddings.memory import module_nbytes, parameter_count
from harness.embeddings.qr import HashedEmbeddingBag, QREmbeddingBag, hashing_buckets_at_budget, qr_table_rows


def _bags(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, n, (60,), generator=g)
    return ids, torch.arange(0, 60, 3)


@pytest.mark.parametrize("operation,neutral", [("mult", 1.0), ("add", 0.0)])
def test_single_partition_equals_plain_table(operation: str, neutral: float) -> None:
    plain = nn.EmbeddingBag(50, 8, mode="sum")
    qr = QREmbeddingBag(50, 8, num_collisions=1, operation=operation)
    assert qr_table_rows(50, 1) == (50, 1)
    with torch.no_grad():
        qr.weight_q.copy_(plain.weight)
        qr.weight_r.fill_(neutral)
    ids, offsets = _bags(50)
    # A bag of k ids multiplies (or adds) the remainder row k times when pooled; one id per bag keeps it exact.
    single = torch.arange(20)
    torch.testing.assert_close(qr(ids[:20], single), plain(ids[:20], single))
    qr(ids[:20], single).sum().backward()
    plain(ids[:20], single).sum().backward()
    torch.testing.assert_close(qr.weight_q.grad, plain.weight.grad)


def test_every_category_gets_a_distinct_vector_unlike_hashing() -> None:
    n, c = 40, 4
    ids = torch.arange(n)
    offsets = torch.arange(n)
    qr = QREmbeddingBag(n, 8, num_collisions=c, operation="concat", official_init=False)
    vectors = qr(ids, offsets)
    assert torch.unique(vectors, dim=0).shape[0] == n
    hashed = HashedEmbeddingBag(n, 8, num_buckets=n // c)
    assert torch.unique(hashed(ids, offsets), dim=0).shape[0] == n // c


def test_memory_at_four_collisions_is_about_a_quarter() -> None:
    n, d, c = 10_000, 16, 4
    qr = QREmbeddingBag(n, d, num_collisions=c)
    full = nn.EmbeddingBag(n, d)
    assert parameter_count(qr) == (2500 + 4) * d
    assert module_nbytes(qr) == (2500 + 4) * d * 4
    assert module_nbytes(qr) / module_nbytes(full) == pytest.approx(0.25, abs=0.001)
    hashed = HashedEmbeddingBag(n, d, hashing_buckets_at_budget(n, c))
    assert parameter_count(hashed) == parameter_count(qr)


@pytest.mark.parametrize("operation", ["mult", "add", "concat"])
def test_output_shape_and_sparse_gradients(operation: str) -> None:
    qr = QREmbeddingBag(100, 8, num_collisions=7, operation=operation, sparse=True)
    ids, offsets = _bags(100)
    out = qr(ids, offsets)
    assert out.shape == (20, 8)
    out.sum().backward()
    assert qr.weight_q.grad.is_sparse and qr.weight_r.grad.is_sparse


def test_bad_operation_is_rejected() -> None:
    with pytest.raises(ValueError, match="operation"):
        QREmbeddingBag(10, 4, 2, operation="xor")  # type: ignore[arg-type]
