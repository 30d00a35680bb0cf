"""Scalar element formats of the OCP Microscaling (MX) specification v1.0 and how to round into them.

Rouhani et al., "Microscaling Data Formats for Deep Learning", arXiv 2310.10537, Table 1, and the
OCP MX v1.0 spec, Sec. 5: FP8 E5M2 and E4M3, FP6 E3M2 and E2M3, FP4 E2M1 (sign, exponent and
mantissa bits, subnormals, no Inf/NaN codes except in FP8) and INT8 (sign and 7 magnitude bits
with an implicit scale 2^-6, i.e. fixed point with 6 fractional bits, range +-127/64).

Parameters as in the reference emulator (microsoft/microxcaling ``mx/formats.py``): ``emax`` is the
exponent of the largest normal (for E4M3 and E3M2/E2M3/E2M1, whose top exponent code holds
numbers, one more than IEEE's), ``max_normal`` the largest magnitude. Element quantisation is
round to nearest on the element's grid (two tie rules, :data:`Rounding`) and saturation of
every finite value beyond ``max_normal`` to ``+-max_normal`` (MX spec Sec. 6.3: "clamp normal
numbers to the max normal").

All arithmetic is exact in float32: grid steps are powers of two built from their bits
(:func:`exact_pow2`), and rounding never adds 0.5 to a float (``floor(|t| + 0.5)`` is wrong when
the sum rounds, e.g. for ``t = 15.5 - 2^-20``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch

Rounding = Literal["even", "away"]
"""Round to nearest with ties to even (IEEE roundTiesToEven: the OCP spec's conversions and torchao's
casts) or ties away from zero (microxcaling's ``"nearest"``, which the MX paper used for training)."""

ROUNDINGS: tuple[str, ...] = get_args(Rounding)


@dataclass(frozen=True)
class ElementFormat:
    """One scalar element format: `exponent_bits` and `mantissa_bits` (explicit, without sign or hidden bit).

    ``exponent_bits == 0`` is MXINT8's fixed point: ``mantissa_bits`` magnitude bits of which all but
    one are fractional (step 2^-6 for 7 bits). `emax` and `max_normal` are the MX spec's (Table 1).
    """

    name: str
    exponent_bits: int
    mantissa_bits: int
    emax: int
    max_normal: float

    @property
    def bits(self) -> int:
        """Storage bits per element: sign, exponent and mantissa."""
        return 1 + self.exponent_bits + self.mantissa_bits

    @property
    def is_integer(self) -> bool:
        """True for MXINT8's fixed-point elements."""
        return self.exponent_bits == 0

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal (subnormals share it, with a 0 hidden bit); 0 for INT8."""
        if self.is_integer:
            return 0
        return 2 - 2 ** (self.exponent_bits - 1)

    @property
    def smallest_step_exponent(self) -> int:
        """log2 of the grid step at the smallest binade: the smallest subnormal (2^-6 for INT8)."""
        if self.is_integer:
            return 1 - self.mantissa_bits
        return self.emin - self.mantissa_bits


ELEMENT_FORMATS: dict[str, ElementFormat] = {f.name: f for f in (
    ElementFormat("fp8_e5m2", 5, 2, 15, 57344.0),
    ElementFormat("fp8_e4m3", 4, 3, 8, 448.0),
    ElementFormat("fp6_e3m2", 3, 2, 4, 28.0),
    ElementFormat("fp6_e2m3", 2, 3, 2, 7.5),
    ElementFormat("fp4_e2m1", 2, 1, 2, 6.0),
    ElementFormat("int8", 0, 7, 0, 127 / 64),
)}


def check_rounding(rounding: str) -> None:
    """Raise ``ValueError`` naming the allowed modes when `rounding` is not one of :data:`ROUNDINGS`."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")


def exact_pow2(exponent: torch.Tensor) -> torch.Tensor:
    """``2.0 ** exponent`` in float32, exact for integer exponents in [-149, 127] (subnormals included).

    Built from the IEEE bit pattern, so it does not depend on a libm's ``exp2``; exponents outside
    the range are clamped to it.
    """
    e = exponent.to(torch.int32).clamp(-149, 127)
    normal = torch.bitwise_left_shift((e + 127).clamp(min=1), 23)
    subnormal = torch.bitwise_left_shift(torch.ones_like(e), (e + 149).clamp(0, 22))
    return torch.where(e >= -126, normal, subnormal).view(torch.float32)


def floor_log2(magnitude: torch.Tensor) -> torch.Tensor:
    """``floor(log2(m))`` as int32 for positive finite float32 `m`, exactly (subnormals too); -150 for 0.

    ``torch.frexp`` writes ``m = f * 2^e`` with ``f`` in [0.5, 1), so ``floor(log2 m) = e - 1``.
    """
    _, e = torch.frexp(magnitude)
    return torch.where(magnitude > 0, e.to(torch.int32) - 1, torch.full_like(e, -150, dtype=torch.int32))


def round_to_integer(t: torch.Tensor, rounding: Rounding) -> torch.Tensor:
    """Round float32 `t` to an integer value, ties to even or away from zero (exact, no ``+0.5``)."""
    if rounding == "even":
        return torch.round(t)
    magnitude = t.abs()
    whole = torch.floor(magnitude)
    return torch.copysign(whole + (magnitude - whole >= 0.5).to(t.dtype), t)


def quantize_elements(a: torch.Tensor, fmt: ElementFormat, rounding: Rounding = "even") -> torch.Tensor:
    """Round float32 `a` (already divided by its block scale) to the nearest value of `fmt`, saturating.

    Floats: the grid step at ``a`` is ``2^(max(floor(log2|a|), emin) - mantissa_bits)`` (subnormals
    below ``2^emin``), read from ``a``'s biased exponent field (float32 subnormals fall in the
    element's subnormal range, where the step is fixed); INT8: a fixed step 2^-6. Finite values
    beyond ``max_normal`` (and those that round beyond it) become ``+-max_normal``. NaN stays NaN;
    +-Inf saturates like any large value (a block holding Inf gets a NaN scale before this point,
    see :mod:`harness.formats.mx`).
    """
    check_rounding(rounding)
    if fmt.is_integer:
        fixed_step = 2.0**fmt.smallest_step_exponent
        q = round_to_integer(a * (1 / fixed_step), rounding) * fixed_step
    else:
        biased = torch.bitwise_right_shift(a.view(torch.int32) & 0x7FFFFFFF, 23)
        step_biased = biased.clamp(fmt.emin + 127, 254) - fmt.mantissa_bits
        step = torch.bitwise_left_shift(step_biased, 23).view(torch.float32)
        inverse = torch.bitwise_left_shift(254 - step_biased, 23).view(torch.float32)
        q = round_to_integer(a * inverse, rounding) * step
    return q.clamp(-fmt.max_normal, fmt.max_normal)


def representable_values(fmt: ElementFormat) -> torch.Tensor:
    """Every finite value of `fmt`, sorted, negative and positive (one zero), from its bit codes.

    Decodes each code as the spec does (Sec. 5): subnormals ``(m / 2^M) 2^emin``, normals
    ``(1 + m / 2^M) 2^(E - bias)``; E4M3's all-ones code (S.1111.111) is NaN and E5M2's top
    exponent holds Inf/NaN, so both are left out; INT8 is ``k / 64`` for ``k`` in [-127, 127].
    """
    if fmt.is_integer:
        magnitudes = torch.arange(0, 128, dtype=torch.float64) / 64
    else:
        m_count = 2**fmt.mantissa_bits
        values = []
        for code in range(2 ** (fmt.exponent_bits + fmt.mantissa_bits)):
            e_field, m_field = divmod(code, m_count)
            if e_field == 0:
                values.append(m_field / m_count * 2.0**fmt.emin)
            else:
                values.append((1 + m_field / m_count) * 2.0 ** (e_field - 1 + fmt.emin))
        magnitudes = torch.tensor(values, dtype=torch.float64)
        magnitudes = magnitudes[magnitudes <= fmt.max_normal]  # drops E4M3's NaN and E5M2's Inf/NaN codes
    grid = torch.cat([-magnitudes.flip(0), magnitudes[1:]])
    return grid.to(torch.float32)
