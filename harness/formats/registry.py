"""Every number format of the harness by name: OCP MX, BDR and BFP, and per-tensor baselines.

A paper names its formats in configuration (``"mxint8"``, ``"mx6"``, ``"bfp16_m4"``); this module
turns a name into an object with ``quantize(x, axis)`` and ``bits_per_element``, and rejects an
unknown name with the list of known ones.
"""

from __future__ import annotations

from typing import Protocol

import torch

from harness.errors import ConfigError
from harness.formats.bdr import BDR_FORMATS
from harness.formats.elements import Rounding
from harness.formats.mx import MX_FORMATS
from harness.formats.per_tensor import PER_TENSOR_FORMATS


class NumberFormat(Protocol):
    """A format that can fake-quantise a tensor along an axis, with its storage cost."""

    @property
    def name(self) -> str:
        """The format's name in :data:`FORMATS`."""
        ...

    @property
    def bits_per_element(self) -> float:
        """Storage bits per value, shared scales included."""
        ...

    def quantize(self, x: torch.Tensor, axis: int = -1, rounding: Rounding = "even") -> torch.Tensor:
        """`x` rounded to the format in blocks along `axis`, same shape and dtype."""
        ...


FORMATS: dict[str, NumberFormat] = {**MX_FORMATS, **BDR_FORMATS, **PER_TENSOR_FORMATS}


def number_format(name: str) -> NumberFormat:
    """The format called `name`; a :class:`~harness.errors.ConfigError` listing the known names otherwise."""
    if name not in FORMATS:
        raise ConfigError(f"unknown number format {name!r}; use one of: {', '.join(FORMATS)}")
    return FORMATS[name]
