"""The BDR (shared microexponents) reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.formats.params import FormatStudyParams

SHARED_MICROEXPONENTS = ("mx9", "mx6", "mx4")
BLOCK_FLOATING_POINT = ("bfp16_m7", "bfp16_m4", "bfp16_m2")


@dataclass(frozen=True)
class Params(FormatStudyParams):
    """MX9/MX6/MX4 against single-level block floating point at the same mantissa (Rouhani et al., ISCA'23)."""

    qsnr_formats: tuple[str, ...] = SHARED_MICROEXPONENTS + BLOCK_FLOATING_POINT
    """Formats whose QSNR is measured on N(0, 1) data: the three BDR formats and BFP (16 values, 8-bit
    exponent, no microexponent) with 7 / 4 / 2 mantissa bits."""
    cast_formats: tuple[str, ...] = SHARED_MICROEXPONENTS + BLOCK_FLOATING_POINT
    """Formats the trained FP32 DLRM is direct-cast to."""
