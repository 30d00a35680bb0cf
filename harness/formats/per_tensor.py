"""Scalar formats with one scale per tensor: the baselines block formats are compared against.

BDR (arXiv 2302.08007) and MX (arXiv 2310.10537, Sec. 2) motivate block scaling against
per-tensor scaling: a single FP32 scale ``amax / max_normal`` for the whole tensor (INT8, INT4,
FP8 E4M3), or a plain cast (BF16). The tensor's maximum grows with its size, so the QSNR of a
per-tensor format is only comparable at a fixed number of values.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.formats.elements import ELEMENT_FORMATS, ElementFormat, Rounding, quantize_elements
from harness.formats.mx import as_float32


@dataclass(frozen=True)
class PerTensorFormat:
    """`element` values times one FP32 scale ``amax / max_normal`` per tensor (no scale when `element` is None: BF16)."""

    name: str
    element: ElementFormat | None

    @property
    def bits_per_element(self) -> float:
        """The element's bits (the one scale per tensor costs nothing per element)."""
        return 16.0 if self.element is None else float(self.element.bits)

    def quantize(self, x: torch.Tensor, axis: int = -1, rounding: Rounding = "even") -> torch.Tensor:
        """Quantise-dequantise the whole of `x` with one scale (`axis` is ignored: nothing is blocked)."""
        values = as_float32(x)
        if self.element is None:
            return values.to(torch.bfloat16).to(x.dtype)
        amax = values.abs().amax()
        scale = torch.where(amax > 0, amax / self.element.max_normal, torch.ones_like(amax))
        return (quantize_elements(values / scale, self.element, rounding) * scale).to(x.dtype)


PER_TENSOR_FORMATS: dict[str, PerTensorFormat] = {f.name: f for f in (
    PerTensorFormat("int8_tensor", ELEMENT_FORMATS["int8"]),
    PerTensorFormat("int4_tensor", ElementFormat("int4", 0, 3, 0, 7 / 4)),
    PerTensorFormat("fp8_e4m3_tensor", ELEMENT_FORMATS["fp8_e4m3"]),
    PerTensorFormat("bf16", None),
)}
