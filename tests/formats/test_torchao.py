"""Bit-equality with torchao's MX implementation (``torchao.prototype.mx_formats``, FLOOR scale).

torchao covers the five MXFP formats (not MXINT8). Two documented differences are kept out of the
comparison: a block holding +-Inf (torchao saturates or keeps the Inf and zeroes the rest, the
reference emulator and this harness make the block NaN), and a block whose max is below
``2^(emax - 126)`` (torchao divides by 2^-126 but decodes with 2^-127, halving such values).
"""

from __future__ import annotations

import warnings

import pytest
import torch

from harness.formats.elements import representable_values
from harness.formats.mx import MX_FORMATS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    mx_tensor = pytest.importorskip("torchao.prototype.mx_formats.mx_tensor",
                                    reason="torchao not installed (pip install 'torchao==0.18.*')")

TORCHAO_DTYPES = {
    "mxfp8_e4m3": torch.float8_e4m3fn,
    "mxfp8_e5m2": torch.float8_e5m2,
    "mxfp6_e2m3": "fp6_e2m3",
    "mxfp6_e3m2": "fp6_e3m2",
    "mxfp4": torch.float4_e2m1fn_x2,
}


def torchao_fake_quantize(x: torch.Tensor, name: str) -> torch.Tensor:
    """torchao's quantise-dequantise along the last axis, blocks of 32, spec (FLOOR) scale."""
    encoded = mx_tensor.MXTensor.to_mx(x, TORCHAO_DTYPES[name], block_size=32,
                                       scaling_mode=mx_tensor.ScaleCalculationMode.FLOOR)
    return encoded.dequantize(torch.float32)


def assert_bitwise_equal(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    """Same bits everywhere (NaN included; +0 and -0 told apart)."""
    mismatches = (ours.view(torch.int32) != theirs.view(torch.int32)).sum().item()
    assert mismatches == 0, f"{mismatches} of {ours.numel()} values differ"


@pytest.mark.parametrize("name", list(TORCHAO_DTYPES))
def test_random_blocks_over_many_binades(name: str) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2048, 256, generator=gen) * torch.exp(5 * torch.randn(2048, 1, generator=gen))
    x[torch.rand(x.shape, generator=gen) < 0.02] = 0.0
    x[7, :32] = 0.0  # an all-zero block
    x[9, 64] = float("nan")  # a NaN block
    assert_bitwise_equal(MX_FORMATS[name].quantize(x, rounding="even"), torchao_fake_quantize(x, name))


@pytest.mark.parametrize("name", list(TORCHAO_DTYPES))
def test_grid_values_and_ties(name: str) -> None:
    """Every grid value, every midpoint (ties: torchao casts round to even) and their neighbours,
    behind the block's max normal, at scales 2^-60 .. 2^60."""
    fmt = MX_FORMATS[name]
    grid = representable_values(fmt.element).double()
    mids = (grid[1:] + grid[:-1]) / 2
    values = torch.cat([grid, mids]).float()
    values = torch.cat([values, torch.nextafter(values, torch.zeros_like(values)),
                        torch.nextafter(values, values * 2 + 1)])
    rows = -(-values.numel() // 31)
    body = torch.zeros(rows * 31)
    body[: values.numel()] = values
    blocks = torch.cat([torch.full((rows, 1), fmt.element.max_normal), body.view(rows, 31)], dim=1)
    x = torch.cat([blocks * 2.0**s for s in (-60, -7, 0, 9, 60)])
    assert_bitwise_equal(fmt.quantize(x, rounding="even"), torchao_fake_quantize(x, name))
