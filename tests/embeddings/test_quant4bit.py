"""Row-wise 4-bit quantization: error bounds, greedy <= min/max, PyTorch parity, fused lookups, sizes."""

from __future__ import annotations

import pytest
import torch

from harness.embeddings.memory import module_nbytes
from harness.embeddings.quant4bit import (CodebookEmbeddingBag, Fused4bitEmbeddingBag, greedy_range,
                                                minmax_range, quantize_rowwise, range_error)


@pytest.fixture(scope="module")
def table() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.cat([torch.randn(300, 16, generator=g), torch.rand(100, 16, generator=g) * 5 - 1,
                      torch.randn(100, 16, generator=g) ** 3])


def test_minmax_error_within_half_a_step(table: torch.Tensor) -> None:
    q = quantize_rowwise(table, "minmax")
    error = (q.dequantize() - table).abs()
    xmin, xmax = minmax_range(table)
    # Half a quantization step, plus the FP16 rounding of the bias and of the scale (at most 15 steps).
    step = (xmax - xmin) / 15
    bound = step / 2 + 16 * (2.0**-10) * (step + xmin.abs())
    assert torch.all(error <= bound.unsqueeze(1))


def test_greedy_never_worse_than_minmax(table: torch.Tensor) -> None:
    greedy = range_error(table, *greedy_range(table))
    minmax = range_error(table, *minmax_range(table))
    assert torch.all(greedy <= minmax + 1e-6)
    assert greedy.mean() < minmax.mean()


@pytest.mark.parametrize("method,optimized", [("greedy", True), ("minmax", False)])
def test_bytes_match_pytorch_prepack(table: torch.Tensor, method: str, optimized: bool) -> None:
    ours = Fused4bitEmbeddingBag.from_float(table, method).packed
    theirs = torch.ops.quantized.embedding_bag_4bit_prepack(table, optimized_qparams=optimized, nbins=200, ratio=0.16)
    assert torch.equal(ours, theirs)


def test_minmax_bytes_match_fbgemm(table: torch.Tensor) -> None:
    import fbgemm_gpu  # noqa: F401  (registers torch.ops.fbgemm)

    ours = Fused4bitEmbeddingBag.from_float(table, "minmax").packed
    assert torch.equal(ours, torch.ops.fbgemm.FloatToFusedNBitRowwiseQuantizedSBHalf(table, 4))


def test_codebook_error_not_above_minmax(table: torch.Tensor) -> None:
    codebook = CodebookEmbeddingBag.from_float(table)
    err_codebook = torch.linalg.vector_norm(codebook.dequantized_weight() - table, dim=1)
    err_minmax = range_error(table, *minmax_range(table))
    assert torch.all(err_codebook <= err_minmax * 1.01 + 1e-3)
    assert err_codebook.mean() < err_minmax.mean()


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_fused_and_codebook_lookups_pool_the_dequantized_rows(table: torch.Tensor, mode: str) -> None:
    ids, offsets = torch.randint(0, len(table), (90,)), torch.arange(0, 90, 9)
    for module in (Fused4bitEmbeddingBag.from_float(table, "greedy", mode), CodebookEmbeddingBag.from_float(table, mode)):
        expected = torch.nn.functional.embedding_bag(ids, module.dequantized_weight(), offsets, mode=mode)
        torch.testing.assert_close(module(ids, offsets), expected, rtol=1e-5, atol=1e-5)


def test_measured_sizes(table: torch.Tensor) -> None:
    rows, dim = table.shape
    fused = Fused4bitEmbeddingBag.from_float(table)
    assert module_nbytes(fused) == rows * (dim // 2 + 4)
    assert module_nbytes(fused) / (rows * dim * 4) == pytest.approx(12 / 64)
    wide = Fused4bitEmbeddingBag.from_float(torch.randn(10, 64), "minmax")
    assert module_nbytes(wide) / (10 * 64 * 4) == pytest.approx(36 / 256)
    assert module_nbytes(CodebookEmbeddingBag.from_float(table)) == rows * (dim // 2 + 16 * 2)


def test_odd_width_is_rejected() -> None:
    with pytest.raises(ValueError, match="even"):
        Fused4bitEmbeddingBag.from_float(torch.randn(4, 5), "minmax")
