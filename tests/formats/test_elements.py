"""Element formats: their grids from the spec's table, and rounding into them exhaustively."""

from __future__ import annotations

import pytest
import torch

from harness.formats.elements import (
    ELEMENT_FORMATS, ROUNDINGS, exact_pow2, floor_log2, quantize_elements, representable_values, round_to_integer)
from harness.formats.mx import MX_FORMATS

# (count of finite values, largest, smallest positive) per element format: MX spec Table 1 / Sec. 5.
GRIDS = {
    "fp8_e5m2": (247, 57344.0, 2.0**-16),
    "fp8_e4m3": (253, 448.0, 2.0**-9),
    "fp6_e3m2": (63, 28.0, 2.0**-4),
    "fp6_e2m3": (63, 7.5, 2.0**-3),
    "fp4_e2m1": (15, 6.0, 0.5),
    "int8": (255, 127 / 64, 1 / 64),
}


@pytest.mark.parametrize("name", list(ELEMENT_FORMATS))
def test_grid_matches_the_spec_table(name: str) -> None:
    grid = representable_values(ELEMENT_FORMATS[name])
    count, largest, smallest = GRIDS[name]
    assert grid.numel() == count and grid.max() == largest and grid.min() == -largest
    assert grid[grid > 0].min() == smallest
    assert torch.all(grid[1:] > grid[:-1]), "values must be distinct and sorted"
    assert ELEMENT_FORMATS[name].max_normal == largest


def test_fp4_positive_values_are_the_spec_list() -> None:
    grid = representable_values(ELEMENT_FORMATS["fp4_e2m1"])
    assert grid[grid >= 0].tolist() == [0, 0.5, 1, 1.5, 2, 3, 4, 6]


def _midpoints(grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Midpoints of consecutive non-negative values, with the even-code and the away-from-zero neighbour.

    Non-negative values are in code order (code k has magnitude index k), so the neighbour with an
    even code -- an even last mantissa bit -- is the one with an even index.
    """
    magnitudes = grid[grid >= 0].double()
    low, high = magnitudes[:-1], magnitudes[1:]
    index = torch.arange(low.numel())
    even = torch.where(index % 2 == 0, low, high)
    return ((low + high) / 2).float(), even.float(), high.float()


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("name", list(ELEMENT_FORMATS))
def test_every_value_is_fixed_and_every_midpoint_rounds_by_the_mode(name: str, rounding: str) -> None:
    fmt = ELEMENT_FORMATS[name]
    grid = representable_values(fmt)
    assert torch.equal(quantize_elements(grid, fmt, rounding), grid)
    mid, even, away = _midpoints(grid)
    expected = even if rounding == "even" else away
    assert torch.equal(quantize_elements(mid, fmt, rounding), expected)
    assert torch.equal(quantize_elements(-mid, fmt, rounding), -expected), "rounding must be symmetric"
    # one float32 ulp off the midpoint: both modes go to the nearer neighbour
    low_side = torch.nextafter(mid, torch.zeros_like(mid))
    high_side = torch.nextafter(mid, torch.full_like(mid, float("inf")))
    magnitudes = grid[grid >= 0]
    assert torch.equal(quantize_elements(low_side, fmt, rounding), magnitudes[:-1])
    assert torch.equal(quantize_elements(high_side, fmt, rounding), magnitudes[1:])


@pytest.mark.parametrize("name", list(ELEMENT_FORMATS))
def test_values_beyond_the_max_normal_saturate(name: str) -> None:
    fmt = ELEMENT_FORMATS[name]
    top = fmt.max_normal
    beyond = torch.tensor([top * 1.01, 2.0 ** (fmt.emax + 1) * 0.999, 1e30, float("inf")])
    for rounding in ROUNDINGS:
        assert torch.equal(quantize_elements(beyond, fmt, rounding), torch.full_like(beyond, top))
        assert torch.equal(quantize_elements(-beyond, fmt, rounding), torch.full_like(beyond, -top))
    assert quantize_elements(torch.tensor([float("nan")]), fmt).isnan().all()


def test_round_half_away_is_exact_where_adding_a_half_is_not() -> None:
    t = torch.tensor([15.5 - 2.0**-20, 2.5, -2.5, 0.5, -0.49999997])
    assert round_to_integer(t, "away").tolist() == [15.0, 3.0, -3.0, 1.0, -0.0]
    assert round_to_integer(t, "even").tolist() == [15.0, 2.0, -2.0, 0.0, -0.0]


def test_exact_powers_of_two_and_floor_log2_cover_subnormals() -> None:
    exponents = torch.arange(-149, 128)
    powers = exact_pow2(exponents)
    assert powers.tolist() == [2.0**int(e) for e in exponents]
    assert torch.equal(floor_log2(powers), exponents.to(torch.int32))
    normal = exponents > -148  # 1.75 x 2^e needs two more bits than the smallest subnormals have
    assert torch.equal(floor_log2(powers[normal] * 1.75), exponents[normal].to(torch.int32))


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("name", list(MX_FORMATS))
def test_grid_through_the_block_format_at_several_scales(name: str, rounding: str) -> None:
    """A block holding the max normal has scale 2^0, so the element grid must pass through the whole
    MX conversion unchanged and its midpoints round by the mode; multiplying the block by 2^s
    multiplies the result by 2^s (the scale is a power of two)."""
    fmt = MX_FORMATS[name]
    grid = representable_values(fmt.element)
    mid, even, away = _midpoints(grid)
    for values, expected in ((grid, grid), (mid, even if rounding == "even" else away)):
        blocks, target = _behind_max(values, fmt.element.max_normal), _behind_max(expected, fmt.element.max_normal)
        for shift in (0, -40, 60):
            scaled = blocks * 2.0**shift
            assert torch.equal(fmt.quantize(scaled, rounding=rounding), target * 2.0**shift), (shift, values[:4])


def _behind_max(values: torch.Tensor, max_normal: float) -> torch.Tensor:
    """Blocks of 32: the max normal, then 31 of `values` (the last block zero-filled)."""
    rows = -(-values.numel() // 31)
    body = torch.zeros(rows * 31)
    body[: values.numel()] = values
    return torch.cat([torch.full((rows, 1), max_normal), body.view(rows, 31)], dim=1)
