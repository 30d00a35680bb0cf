"""The MX formats reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.formats.params import FormatStudyParams

MX_FORMATS = ("mxint8", "mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4")


@dataclass(frozen=True)
class Params(FormatStudyParams):
    """The concrete MX formats of Table 1 (Rouhani et al. 2023): QSNR, DLRM direct casts, MXFP6 training."""

    qsnr_formats: tuple[str, ...] = MX_FORMATS
    """Formats whose QSNR is measured on N(0, 1) data (Table 1's six concrete MX formats)."""
    cast_formats: tuple[str, ...] = MX_FORMATS
    """Formats the trained FP32 DLRM is direct-cast to (Sec. 4.1's direct-cast inference)."""
    train_format: str = "mxfp6_e3m2"
    """The format of the training table's weights, activations and gradients (MXFP6 E3M2)."""
