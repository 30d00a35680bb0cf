"""OCP Microscaling (MX) block formats: 32 elements sharing one E8M0 power-of-two scale.

Rouhani et al., "Microscaling Data Formats for Deep Learning", arXiv 2310.10537, Sec. 3 and
Table 1; OCP MX spec v1.0, Sec. 6.3 (conversion from float). The six concrete formats are
MXFP8 (E5M2, E4M3), MXFP6 (E3M2, E2M3), MXFP4 (E2M1) and MXINT8, with block size ``k = 32``
along the reduction axis and an 8-bit exponent-only scale (E8M0: 2^-127 .. 2^127, code 0xFF NaN).

Conversion (spec Algorithm 1, the "minimally supported" one; torchao's
``ScaleCalculationMode.FLOOR``, microxcaling's ``_quantize_mx``):

    shared_exp = floor(log2(max_i |V_i|)) - emax_elem        clamped below at -127
    X          = 2^shared_exp
    P_i        = quantize_to_element(V_i / X)                 saturating at the element's max normal

Special values: a block whose maximum is not finite (a NaN or an Inf in it) has no finite
``floor(log2 max)``; its scale is E8M0's NaN and every value of the block decodes to NaN (spec
Sec. 5.3: a NaN scale makes the whole block NaN; microxcaling does the same, torchao too for
NaN). An all-zero block keeps the smallest scale 2^-127 and decodes to zeros (E8M0 has no zero).

Scale choice matters: ``floor(log2 amax) - emax`` leaves values in ``(max_normal, 2^(emax+1)) X``
to saturate (an FP4 block max in (6, 8) x 2^e becomes 6 x 2^e). A ceil or FP32 ``amax/max_normal``
scale is a different, non-MX format.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.formats.blocks import BlockLayout, from_blocks, to_blocks
from harness.formats.elements import (
    ELEMENT_FORMATS, ElementFormat, Rounding, exact_pow2, floor_log2, quantize_elements)

BLOCK_SIZE = 32
SCALE_BITS = 8
_FLOAT_INPUTS = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


@dataclass(frozen=True)
class MXFormat:
    """A concrete MX format: an element format, `block_size` elements per scale, `scale_bits`-bit E8M0 scale."""

    name: str
    element: ElementFormat
    block_size: int = BLOCK_SIZE
    scale_bits: int = SCALE_BITS

    @property
    def bits_per_element(self) -> float:
        """Element bits plus the scale's bits spread over the block (8.25 for MXFP8 and MXINT8)."""
        return self.element.bits + self.scale_bits / self.block_size

    @property
    def scale_emax(self) -> int:
        """Largest scale exponent (127 for E8M0); the smallest is its negative."""
        return 2 ** (self.scale_bits - 1) - 1

    def encode(self, x: torch.Tensor, axis: int = -1, rounding: Rounding = "even") -> "MXEncoded":
        """Shared exponents and element values of `x` in blocks along `axis` (see the module docstring)."""
        values = as_float32(x)
        blocks, layout = to_blocks(values, self.block_size, axis)
        scale = shared_exponent(blocks.abs().amax(dim=-1), self.element.emax, self.scale_emax)
        inverse = torch.where(scale.isnan(), torch.nan, exact_pow2(-scale.nan_to_num(0.0)))  # NaN: whole block
        elements = quantize_elements(blocks * inverse.unsqueeze(-1), self.element, rounding)
        return MXEncoded(self, scale, elements, layout, x)

    def quantize(self, x: torch.Tensor, axis: int = -1, rounding: Rounding = "even") -> torch.Tensor:
        """Quantise-dequantise (fake quantisation): `x` rounded to this format, same shape and dtype."""
        return self.encode(x, axis, rounding).decode()


@dataclass
class MXEncoded:
    """`x` encoded: one shared exponent per block (NaN = E8M0 NaN) and the element values ``P_i``.

    `scale_exponent` is ``[..., blocks]`` and `elements` ``[..., blocks, block_size]``, with the
    block axis moved last and zero-padded (:func:`harness.formats.blocks.to_blocks`).
    """

    format: MXFormat
    scale_exponent: torch.Tensor
    elements: torch.Tensor
    layout: BlockLayout
    source: torch.Tensor

    def decode(self) -> torch.Tensor:
        """``X * P_i`` back in the source's shape and dtype (a NaN scale gives NaN for the whole block)."""
        scale = exact_pow2(self.scale_exponent.nan_to_num(0.0)).unsqueeze(-1)
        values = from_blocks(self.elements * scale, self.layout, self.source)
        return values.to(self.source.dtype)


def as_float32(x: torch.Tensor) -> torch.Tensor:
    """`x` as float32, the precision the conversion is defined in (torchao and microxcaling compute in it).

    float16 and bfloat16 convert exactly; float64 is rounded to float32 first.
    """
    if x.dtype not in _FLOAT_INPUTS:
        raise TypeError(f"block formats quantise floating-point tensors, got dtype {x.dtype}")
    return x.to(torch.float32)


def shared_exponent(amax: torch.Tensor, element_emax: int, scale_emax: int = 127) -> torch.Tensor:
    """The E8M0 exponent ``floor(log2 amax) - element_emax`` of each block maximum `amax`, as float32.

    Clamped below at ``-scale_emax`` (all-zero blocks and tiny maxima get 2^-127); NaN where
    `amax` is not finite or the exponent exceeds ``scale_emax`` (the E8M0 NaN code).
    """
    exponent = (floor_log2(amax).clamp(min=-scale_emax - element_emax) - element_emax).to(torch.float32)
    exponent = exponent.clamp(min=-scale_emax)
    return torch.where(amax.isfinite() & (exponent <= scale_emax), exponent, torch.nan)


MX_FORMATS: dict[str, MXFormat] = {f.name: f for f in (
    MXFormat("mxfp8_e5m2", ELEMENT_FORMATS["fp8_e5m2"]),
    MXFormat("mxfp8_e4m3", ELEMENT_FORMATS["fp8_e4m3"]),
    MXFormat("mxfp6_e3m2", ELEMENT_FORMATS["fp6_e3m2"]),
    MXFormat("mxfp6_e2m3", ELEMENT_FORMATS["fp6_e2m3"]),
    MXFormat("mxfp4", ELEMENT_FORMATS["fp4_e2m1"]),
    MXFormat("mxint8", ELEMENT_FORMATS["int8"]),
)}


def mx_quantize(x: torch.Tensor, fmt: str | MXFormat, axis: int = -1, rounding: Rounding = "even") -> torch.Tensor:
    """Fake-quantise `x` to the MX format `fmt` (a name of :data:`MX_FORMATS` or an :class:`MXFormat`)
    in blocks of 32 along `axis`, ties to even by default (OCP, torchao)."""
    if isinstance(fmt, str):
        if fmt not in MX_FORMATS:
            raise ValueError(f"unknown MX format {fmt!r}; known: {', '.join(MX_FORMATS)}")
        fmt = MX_FORMATS[fmt]
    return fmt.quantize(x, axis, rounding)
