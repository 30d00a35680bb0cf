"""Block Data Representations with shared microexponents (BDR): MX9, MX6, MX4, and block floating point.

Rouhani et al., "With Shared Microexponents, A Little Shifting Goes a Long Way", ISCA'23,
arXiv 2302.08007 (format figure as reproduced in AMD Quark's documentation, "Two level
quantization formats"). These "MX" formats are not the OCP MX formats of :mod:`harness.formats.mx`:
a two-level scale and integer sign-magnitude mantissas.

For each block of ``k1 = 16`` values along the reduction axis:

    e_i  = floor(log2 |x_i|)
    E    = max_i e_i, clamped to [-127, 127]                   (d1 = 8-bit shared exponent)
    mu_j = min(E - max_{i in j} e_i, 2^d2 - 1)                 (d2 = 1-bit microexponent per
                                                                 sub-block j of k2 = 2 values)
    q_i  = clip(round(x_i / 2^(E + 1 - m - mu_j)), +-(2^m - 1)) * 2^(E + 1 - m - mu_j)

with ``m`` = 7 / 4 / 2 magnitude bits for MX9 / MX6 / MX4: the block's largest value lies in
``[2^E, 2^(E+1))`` and the magnitudes reach ``(2^m - 1) 2^(E+1-m) < 2^(E+1)``. A sub-block whose two
exponents are both below ``E`` gets one more bit of precision (Quark: ``s_sb = 2^-1``). Cost in bits per
element: ``(m + 1) + d1/k1 + d2/k2`` = 9 / 6 / 4.

Block floating point (BFP) is the single-level special case ``d2 = 0``: one 8-bit exponent per 16
values, ``m + 1.5`` bits per element, the paper's baseline at equal mantissa.

The paper's rounding mode is not stated in the material read here. The default is ties to even,
as in AMD Quark's ``fake_quantize_mx6_mx9`` (bit-equal to this module, tests/formats/test_quark_bdr.py)
and the OCP MX conversions; ties away from zero (the MX emulator's ``"nearest"``) is available.
Non-finite values make the block NaN, as for MX (Quark instead passes them through and quantises
the rest of the block).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.formats.blocks import from_blocks, to_blocks
from harness.formats.elements import Rounding, check_rounding, exact_pow2, floor_log2, round_to_integer
from harness.formats.mx import as_float32

@dataclass(frozen=True)
class BDRFormat:
    """A two-level shared-exponent format: `mantissa_bits` magnitude bits plus a sign per element,
    a `scale_bits`-bit exponent per `block_size` values and a `micro_bits`-bit microexponent per
    `sub_block_size` values (``micro_bits = 0``: single-level block floating point)."""

    name: str
    mantissa_bits: int
    block_size: int = 16
    sub_block_size: int = 2
    scale_bits: int = 8
    micro_bits: int = 1

    def __post_init__(self) -> None:
        if self.block_size % self.sub_block_size:
            raise ValueError(f"{self.name}: sub-blocks of {self.sub_block_size} must tile blocks of {self.block_size}")

    @property
    def bits_per_element(self) -> float:
        """``(m + 1) + d1/k1 + d2/k2`` (BDR's cost per element; 9 / 6 / 4 for MX9 / MX6 / MX4)."""
        return self.mantissa_bits + 1 + self.scale_bits / self.block_size + self.micro_bits / self.sub_block_size

    def quantize(self, x: torch.Tensor, axis: int = -1, rounding: Rounding = "even") -> torch.Tensor:
        """Quantise-dequantise `x` in blocks along `axis` (see the module docstring); same shape and dtype."""
        check_rounding(rounding)
        blocks, layout = to_blocks(as_float32(x), self.block_size, axis)
        pairs = blocks.unflatten(-1, (-1, self.sub_block_size))  # [..., blocks, sub-blocks, k2]
        # floor(log2) is monotonic, so the largest exponent of a group is that of its largest magnitude
        sub_max = pairs.abs().amax(dim=-1)
        sub_exponent = floor_log2(sub_max)  # -150 for an all-zero sub-block: below any real exponent
        scale_emax = 2 ** (self.scale_bits - 1) - 1
        shared = sub_exponent.amax(dim=-1, keepdim=True).clamp(-scale_emax, scale_emax)
        micro = (shared - sub_exponent).clamp(0, 2**self.micro_bits - 1)
        step_exponent = shared + 1 - self.mantissa_bits - micro
        finite = sub_max.amax(dim=-1, keepdim=True).isfinite()
        # steps reach 2^-136, whose inverse float32 lacks: divide (exact for powers of two)
        step = torch.where(finite, exact_pow2(step_exponent), torch.nan).unsqueeze(-1)  # NaN: whole block
        limit = 2**self.mantissa_bits - 1
        q = round_to_integer(pairs / step, rounding).clamp(-limit, limit) * step
        return from_blocks(q.flatten(-2), layout, x).to(x.dtype)


BDR_FORMATS: dict[str, BDRFormat] = {f.name: f for f in (
    BDRFormat("mx9", 7),
    BDRFormat("mx6", 4),
    BDRFormat("mx4", 2),
    BDRFormat("bfp16_m7", 7, micro_bits=0),
    BDRFormat("bfp16_m4", 4, micro_bits=0),
    BDRFormat("bfp16_m2", 2, micro_bits=0),
)}
