"""Quantisation signal-to-noise ratio (QSNR), the figure of merit of MX and BDR (arXiv 2302.08007, 2310.10537).

``QSNR = 10 log10(||x||^2 / ||x - Q(x)||^2)`` in dB: higher is better; roughly 6 dB per mantissa
bit. The papers report it on synthetic data; here the data is N(0, 1), drawn per seed, so a
format's QSNR has a mean and a spread over seeds and orderings between formats can be tested.
"""

from __future__ import annotations

import pandas as pd
import torch

from harness.formats.registry import number_format

GAUSSIAN_VALUES = 2**20


def qsnr_db(x: torch.Tensor, quantized: torch.Tensor) -> float:
    """``10 log10(sum x^2 / sum (x - quantized)^2)`` in float64; ``inf`` when `quantized` equals `x`."""
    signal = x.double().pow(2).sum()
    noise = (x.double() - quantized.double()).pow(2).sum()
    if noise == 0:
        return float("inf")
    return float(10 * torch.log10(signal / noise))


def gaussian(seed: int, values: int = GAUSSIAN_VALUES) -> torch.Tensor:
    """`values` float32 draws of N(0, 1) from a generator seeded with `seed`, shaped ``[values / 1024, 1024]``."""
    if values % 1024:
        raise ValueError(f"values must be a multiple of 1024, got {values}")
    return torch.randn(values // 1024, 1024, generator=torch.Generator().manual_seed(seed))


def gaussian_qsnr(format_name: str, seed: int, values: int = GAUSSIAN_VALUES) -> float:
    """QSNR of the format `format_name` on :func:`gaussian` data of `seed`, blocks along the last axis."""
    x = gaussian(seed, values)
    return qsnr_db(x, number_format(format_name).quantize(x, axis=-1))


def qsnr_table(format_names: list[str], seeds: list[int], values: int = GAUSSIAN_VALUES) -> pd.DataFrame:
    """One row per (format, seed): ``format``, ``seed``, ``bits_per_element``, ``qsnr_db``; data shared across formats."""
    rows = []
    for seed in seeds:
        x = gaussian(seed, values)
        for name in format_names:
            fmt = number_format(name)
            rows.append({"format": name, "seed": seed, "bits_per_element": fmt.bits_per_element,
                         "qsnr_db": qsnr_db(x, fmt.quantize(x, axis=-1))})
    return pd.DataFrame(rows)
