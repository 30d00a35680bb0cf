"""BDR shared-microexponent formats MX9/MX6/MX4 and block floating point."""

from __future__ import annotations

import pytest
import torch

from harness.formats.bdr import BDR_FORMATS, BDRFormat
from harness.formats.elements import ROUNDINGS

MX = ["mx9", "mx6", "mx4"]


def test_cost_in_bits_per_element() -> None:
    """(m + 1) + d1/k1 + d2/k2: 9 / 6 / 4 for MX9 / MX6 / MX4; BFP16 pays no microexponent."""
    assert [BDR_FORMATS[n].bits_per_element for n in MX] == [9.0, 6.0, 4.0]
    assert [BDR_FORMATS[n].bits_per_element for n in ("bfp16_m7", "bfp16_m4", "bfp16_m2")] == [8.5, 5.5, 3.5]
    assert {(f.block_size, f.sub_block_size, f.scale_bits) for f in BDR_FORMATS.values()} == {(16, 2, 8)}


@pytest.mark.parametrize("name", MX)
def test_representable_values_of_both_sub_block_scales_are_fixed(name: str) -> None:
    """Block exponent E = 0 (a 1.0 in the first sub-block): sub-blocks holding 1.0 have step 2^(1-m),
    sub-blocks whose values are all below 1 have step 2^-m, magnitudes up to (2^m - 1) x step."""
    m = BDR_FORMATS[name].mantissa_bits
    top = 2**m - 1
    coarse = torch.arange(-top, top + 1) * 2.0 ** (1 - m)  # same sub-block as the 1.0
    fine = torch.arange(-top, top + 1) * 2.0**-m  # |v| < 1: microexponent 1
    for values in (coarse, fine):
        pairs = torch.stack([torch.ones_like(values), values], dim=1) if values is coarse else \
            torch.stack([values, values.flip(0)], dim=1)
        blocks = torch.cat([torch.tensor([1.0, 0.0]).expand(pairs.shape[0], 2), pairs,
                            torch.zeros(pairs.shape[0], 12)], dim=1)
        assert torch.equal(BDR_FORMATS[name].quantize(blocks), blocks)


def test_microexponent_is_one_bit_even_far_below_the_block_exponent() -> None:
    x = torch.zeros(16)
    x[0] = 1.5  # E = 0; MX4 (m = 2): coarse step 2^-1, fine step 2^-2
    x[2], x[3] = 0.3, 0.0  # both below 2^0 -> step 2^-2: 0.3 -> 0.25
    x[4], x[5] = 0.6, 1.0  # 1.0 is at E -> step 2^-1: 0.6 -> 0.5
    x[6], x[7] = 2.0**-5, 0.0  # far below, still only one bit of shift: 2^-5 -> 0
    x[8], x[9] = 0.9, 0.0  # fine sub-block saturates at (2^2 - 1) 2^-2 = 0.75
    q = BDR_FORMATS["mx4"].quantize(x)
    assert q[[0, 2, 4, 5, 6, 8]].tolist() == [1.5, 0.25, 0.5, 1.0, 0.0, 0.75]
    bfp = BDR_FORMATS["bfp16_m2"].quantize(x)  # single level: step 2^-1 everywhere
    assert bfp[[0, 2, 4, 5, 6, 8]].tolist() == [1.5, 0.5, 0.5, 1.0, 0.0, 1.0]


def test_largest_value_saturates_below_the_next_binade() -> None:
    x = torch.zeros(16)
    x[0] = 1.999  # MX9: step 2^-6, 1.999 / 2^-6 = 127.9 -> 127
    assert BDR_FORMATS["mx9"].quantize(x)[0] == 127 / 64


def test_ties_follow_the_rounding_mode() -> None:
    x = torch.zeros(16)
    x[0], x[1] = 1.0, 1.25  # MX4, E = 0, coarse step 0.5: 1.25 / 0.5 = 2.5, a tie
    x[2], x[3] = 0.625, 0.0  # fine step 0.25: 0.625 / 0.25 = 2.5
    x[4], x[5] = 0.125, -0.375  # fine step: 0.5 and -1.5, ties at and away from zero
    away = BDR_FORMATS["mx4"].quantize(x, rounding="away")
    even = BDR_FORMATS["mx4"].quantize(x, rounding="even")
    assert away[:6].tolist() == [1.0, 1.5, 0.75, 0.0, 0.25, -0.5]
    assert even[:6].tolist() == [1.0, 1.0, 0.5, 0.0, 0.0, -0.5]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("name", list(BDR_FORMATS))
def test_idempotent_zero_blocks_nan_and_padding(name: str, rounding: str) -> None:
    fmt = BDR_FORMATS[name]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 40, generator=gen) * torch.exp(4 * torch.randn(8, 1, generator=gen))
    x[0, :16] = 0.0
    x[1, 20] = float("nan")
    x[2, 35] = float("inf")
    q = fmt.quantize(x, rounding=rounding)
    assert torch.count_nonzero(q[0, :16]) == 0
    assert q[1, 16:32].isnan().all() and q[2, 32:].isnan().all()
    assert not q[1, :16].isnan().any() and not q[2, :32].isnan().any()
    finite = q.isfinite()
    assert torch.equal(fmt.quantize(q, rounding=rounding)[finite], q[finite])
    padded = torch.cat([x, torch.zeros(8, 8)], dim=1)
    assert torch.equal(fmt.quantize(padded, rounding=rounding)[:, :40].nan_to_num(7.0), q.nan_to_num(7.0))
    assert torch.equal(fmt.quantize(x.t(), axis=0, rounding=rounding).t().nan_to_num(7.0), q.nan_to_num(7.0))


def test_blocks_near_the_smallest_shared_exponent_keep_their_codes() -> None:
    """Steps down to 2^(-127 + 1 - m - 1): their reciprocals are beyond float32, the codes must not suffer."""
    x = torch.zeros(16)
    x[0], x[2], x[4] = 1.5 * 2.0**-125, 1.25 * 2.0**-127, 2.0**-140  # E = -125; MX9 steps 2^-131 and 2^-132
    q = BDR_FORMATS["mx9"].quantize(x)
    assert q[:5].tolist() == [1.5 * 2.0**-125, 0.0, 1.25 * 2.0**-127, 0.0, 0.0]


def test_sub_blocks_must_tile_blocks() -> None:
    with pytest.raises(ValueError, match="must tile"):
        BDRFormat("odd", 4, block_size=16, sub_block_size=3)
