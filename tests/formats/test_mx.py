"""OCP MX block conversion: scale, blocks along an axis, padding, zeros, ties, saturation, NaN/Inf."""

from __future__ import annotations

import math

import pytest
import torch

from harness.formats.elements import ROUNDINGS, representable_values
from harness.formats.mx import MX_FORMATS, mx_quantize

NAMES = list(MX_FORMATS)


def heavy_tailed(rows: int = 64, cols: int = 96, seed: int = 0) -> torch.Tensor:
    """Gaussian values whose rows span many binades (log-normal row scales), some exact zeros."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=gen) * torch.exp(4 * torch.randn(rows, 1, generator=gen))
    x[torch.rand(rows, cols, generator=gen) < 0.05] = 0.0
    return x


def test_concrete_formats_of_table_1() -> None:
    bits = {"mxfp8_e5m2": 8.25, "mxfp8_e4m3": 8.25, "mxfp6_e3m2": 6.25, "mxfp6_e2m3": 6.25,
            "mxfp4": 4.25, "mxint8": 8.25}
    assert {n: f.bits_per_element for n, f in MX_FORMATS.items()} == bits
    assert {f.block_size for f in MX_FORMATS.values()} == {32} and {f.scale_bits for f in MX_FORMATS.values()} == {8}


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("name", NAMES)
def test_quantisation_is_idempotent(name: str, rounding: str) -> None:
    x = heavy_tailed()
    once = mx_quantize(x, name, rounding=rounding)
    assert torch.equal(mx_quantize(once, name, rounding=rounding), once)
    assert not torch.equal(once, x)


@pytest.mark.parametrize("name", NAMES)
def test_shared_exponent_is_floor_log2_of_the_block_max_minus_emax(name: str) -> None:
    fmt = MX_FORMATS[name]
    x = heavy_tailed(cols=64)
    encoded = fmt.encode(x)
    amax = x.abs().view(64, 2, 32).amax(-1)
    expected = [[max(math.floor(math.log2(a)) - fmt.element.emax, -127) if a > 0 else -127 for a in row]
                for row in amax.double().tolist()]
    assert encoded.scale_exponent.tolist() == expected
    # every element is on the element grid, and |P_i| <= max normal
    assert encoded.elements.abs().max() <= fmt.element.max_normal


@pytest.mark.parametrize("name", NAMES)
def test_a_block_spanning_many_binades(name: str) -> None:
    """Scale from the largest value; values far below it flush to zero, the rest keep their grid."""
    fmt = MX_FORMATS[name]
    x = torch.zeros(32)
    x[:5] = torch.tensor([2.0**20, 2.0**-100, -(2.0**10), 2.0**-126, 3 * 2.0**5])
    encoded = fmt.encode(x)
    assert encoded.scale_exponent.item() == 20 - fmt.element.emax
    q = encoded.decode()
    step = 2.0 ** (20 - fmt.element.emax + fmt.element.smallest_step_exponent)  # the block's smallest step
    assert q[0] == 2.0**20 and q[1] == 0 and q[3] == 0
    assert q[2] == (-(2.0**10) if step <= 2.0**10 else 0.0)  # on the grid, or below half a step (ties to even: 0)
    assert torch.all((q / step).round() == q / step), "every value is a multiple of the smallest step"


def test_ties_in_fp4_follow_the_rounding_mode() -> None:
    # block max 6 -> scale 2^0; 0.25, 0.75, 2.5 and 5 are exact midpoints of the E2M1 grid
    x = torch.tensor([6.0, 0.25, 0.75, 2.5, 5.0, -2.5, 1.25] + [0.0] * 25)
    even = mx_quantize(x, "mxfp4", rounding="even")[:7].tolist()
    away = mx_quantize(x, "mxfp4", rounding="away")[:7].tolist()
    assert even == [6.0, 0.0, 1.0, 2.0, 4.0, -2.0, 1.0]
    assert away == [6.0, 0.5, 1.0, 3.0, 6.0, -3.0, 1.5]


def test_block_max_just_under_the_next_power_of_two_saturates() -> None:
    """floor(log2 amax) - emax leaves (max_normal, 2^(emax+1)) x X to clamp: FP4 amax in (6, 8) -> 6."""
    for e in (-30, 0, 17):
        x = torch.zeros(32)
        x[0], x[1] = 7.9 * 2.0**e, -7.0 * 2.0**e
        q = mx_quantize(x, "mxfp4")
        assert q[0] == 6 * 2.0**e and q[1] == -6 * 2.0**e
    x = torch.zeros(32)
    x[0] = 500.0  # E4M3: scale 2^(8-8) = 1, 500 > 448 clamps
    assert mx_quantize(x, "mxfp8_e4m3")[0] == 448.0
    x[0] = 1.999  # MXINT8: scale 2^0, 1.999 -> 128/64 is out of range, clamps to 127/64
    assert mx_quantize(x, "mxint8")[0] == 127 / 64


@pytest.mark.parametrize("name", NAMES)
def test_zero_blocks_decode_to_zero_with_the_smallest_scale(name: str) -> None:
    x = torch.zeros(3, 64)
    x[1, 40] = 1.5
    encoded = MX_FORMATS[name].encode(x)
    assert encoded.scale_exponent[0].tolist() == [-127, -127] and encoded.scale_exponent[1, 0] == -127
    q = encoded.decode()
    assert torch.count_nonzero(q) == 1 and q[1, 40] == 1.5


@pytest.mark.parametrize("name", NAMES)
def test_a_nan_or_inf_makes_its_block_nan_and_leaves_other_blocks_alone(name: str) -> None:
    x = heavy_tailed(rows=3, cols=64)
    x[0, 3], x[1, 40], x[2, 10] = float("nan"), float("inf"), -float("inf")
    encoded = MX_FORMATS[name].encode(x)
    assert encoded.scale_exponent.isnan().tolist() == [[True, False], [False, True], [True, False]]
    q = encoded.decode()
    assert q[0, :32].isnan().all() and q[1, 32:].isnan().all() and q[2, :32].isnan().all()
    clean = x.clone()
    clean[0, :32], clean[1, 32:], clean[2, :32] = 0, 0, 0
    reference = mx_quantize(clean, name)
    assert torch.equal(q[0, 32:], reference[0, 32:]) and torch.equal(q[1, :32], reference[1, :32])


@pytest.mark.parametrize("name", NAMES)
def test_a_partial_last_block_is_zero_padded(name: str) -> None:
    x = heavy_tailed(rows=5, cols=70)
    padded = torch.cat([x, torch.zeros(5, 26)], dim=1)
    assert torch.equal(mx_quantize(x, name), mx_quantize(padded, name)[:, :70])
    assert MX_FORMATS[name].encode(x).scale_exponent.shape == (5, 3)


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxint8"])
def test_blocks_run_along_the_given_axis(name: str) -> None:
    x = heavy_tailed(rows=40, cols=6).reshape(2, 20, 6)
    along_middle = mx_quantize(x, name, axis=1)
    assert torch.equal(along_middle, mx_quantize(x.transpose(1, 2), name, axis=-1).transpose(1, 2))
    assert not torch.equal(along_middle, mx_quantize(x, name, axis=-1))
    assert mx_quantize(torch.tensor(3.0), name).item() == 3.0
    assert mx_quantize(torch.zeros(0, 70), name).shape == (0, 70)


def test_smallest_scale_is_2_to_the_minus_127() -> None:
    """A block whose max needs a scale below 2^-127 keeps 2^-127 and its values stay exact where the grid has them."""
    x = torch.zeros(32)
    x[0], x[1] = 2.0**-126, 2.0**-128  # fp32 subnormals
    encoded = MX_FORMATS["mxfp4"].encode(x)
    assert encoded.scale_exponent.item() == -127
    assert encoded.decode()[:2].tolist() == [2.0**-126, 2.0**-128]


def test_low_precision_inputs_keep_their_dtype() -> None:
    x = heavy_tailed()
    for dtype in (torch.bfloat16, torch.float16):
        low = x.to(dtype).clamp(-6e4, 6e4)
        q = mx_quantize(low, "mxfp6_e2m3")
        assert q.dtype == dtype
        assert torch.equal(q, mx_quantize(low.float(), "mxfp6_e2m3").to(dtype))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="unknown MX format 'mxfp5'"):
        mx_quantize(torch.ones(4), "mxfp5")
    with pytest.raises(ValueError, match="rounding must be one of"):
        mx_quantize(torch.ones(4), "mxfp4", rounding="stochastic")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="floating-point"):
        mx_quantize(torch.ones(4, dtype=torch.int32), "mxfp4")


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("name", NAMES)
def test_each_value_goes_to_the_nearest_point_of_its_blocks_grid(name: str, rounding: str) -> None:
    """Brute force, independent of the implementation's arithmetic: with the block scale X, the result
    is the point of ``grid * X`` nearest to the value (float64 distances), ties to the even code or
    away from zero; saturation is the same rule, as the grid ends at the max normal."""
    fmt = MX_FORMATS[name]
    x = heavy_tailed(rows=48, cols=64, seed=5)
    encoded = fmt.encode(x, rounding=rounding)
    grid = representable_values(fmt.element).double()
    code = torch.searchsorted(grid[grid >= 0], grid.abs())  # the code of |value|: its parity is the last mantissa bit
    scale = 2.0 ** encoded.scale_exponent.double()  # [rows, blocks]
    values = x.double().view(48, 2, 32, 1)
    candidates = grid.view(1, 1, 1, -1) * scale.view(48, 2, 1, 1)  # [rows, blocks, 1, grid]
    distance = (values - candidates).abs()
    nearest = distance == distance.amin(dim=-1, keepdim=True)
    preference = (code % 2 == 0).double() if rounding == "even" else grid.abs()  # which tied point wins
    choice = torch.where(nearest, preference, -1.0).argmax(dim=-1, keepdim=True)
    expected = candidates.expand_as(distance).gather(-1, choice).squeeze(-1)
    assert torch.equal(encoded.decode().double().view(48, 2, 32), expected)
