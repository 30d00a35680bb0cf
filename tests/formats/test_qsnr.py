"""QSNR: the definition, and the relations between formats that the research notes support.

Asserted as relations over seeds (every seed's value of one side beats every seed's value of the
other), never as the papers' numbers, which are not verified. The only absolute values checked are
the per-tensor FP8 E4M3 and BF16 figures computed in the research notes with code matching the
reference emulator (``spec-architectures-formats.md`` Sec. 4.4, item 9, [computed]).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from harness.errors import ConfigError
from harness.formats.qsnr import gaussian, gaussian_qsnr, qsnr_db, qsnr_table
from harness.formats.registry import FORMATS, number_format

SEEDS = [0, 1, 2]
VALUES = 2**15


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """QSNR of every block format on N(0, 1), 3 seeds of 32,768 values."""
    names = [n for n in FORMATS if not n.endswith("_tensor") and n != "bf16"]
    return qsnr_table(names, SEEDS, VALUES)


def better(table: pd.DataFrame, high: str, low: str) -> bool:
    """Every seed's QSNR of `high` exceeds every seed's QSNR of `low`."""
    by_format = table.groupby("format")["qsnr_db"]
    return bool(by_format.min()[high] > by_format.max()[low])


def test_definition() -> None:
    x = torch.ones(100)
    assert qsnr_db(x, x) == math.inf
    assert qsnr_db(x, 1.1 * x) == pytest.approx(20.0)  # noise 1% of the signal's power
    assert qsnr_db(x, torch.zeros(100)) == pytest.approx(0.0)


def test_mx_degradation_order(table: pd.DataFrame) -> None:
    """MX paper's ordering (spec mx-order): INT8 <= FP8-E4M3 ~ FP6-E2M3 < FP8-E5M2 ~ FP6-E3M2 < FP4 in
    error: more mantissa bits, higher QSNR, at block size 32."""
    three_bit, two_bit = ("mxfp8_e4m3", "mxfp6_e2m3"), ("mxfp8_e5m2", "mxfp6_e3m2")
    assert all(better(table, "mxint8", f) for f in three_bit)
    assert all(better(table, hi, lo) for hi in three_bit for lo in two_bit)
    assert all(better(table, f, "mxfp4") for f in two_bit)


def test_shared_microexponents_beat_block_floating_point_at_equal_mantissa(table: pd.DataFrame) -> None:
    """BDR abstract (spec bdr-mx-vs-bfp): MX9 > BFP m7, MX6 > BFP m4, MX4 > BFP m2; and MX9 > MX6 > MX4."""
    assert better(table, "mx9", "bfp16_m7") and better(table, "mx6", "bfp16_m4") and better(table, "mx4", "bfp16_m2")
    assert better(table, "mx9", "mx6") and better(table, "mx6", "mx4")


def test_table_layout(table: pd.DataFrame) -> None:
    assert list(table.columns) == ["format", "seed", "bits_per_element", "qsnr_db"]
    assert len(table) == 12 * len(SEEDS) and table["qsnr_db"].between(5, 60).all()
    assert table.loc[table.format == "mx6", "bits_per_element"].unique().tolist() == [6.0]
    assert gaussian_qsnr("mxfp4", 0, VALUES) == table.query("format == 'mxfp4' and seed == 0")["qsnr_db"].item()
    assert not torch.equal(gaussian(0, 1024), gaussian(1, 1024))


@pytest.mark.parametrize(("name", "expected"), [("fp8_e4m3_tensor", 31.54), ("bf16", 55.59)])
def test_per_tensor_baselines_match_the_notes(name: str, expected: float) -> None:
    """[computed] in the notes at n = 2^22: per-tensor FP8 E4M3 31.54 dB, BF16 55.59 dB. Both are
    relative-error formats, so the seed moves them by ~0.01 dB; tolerance 0.05 dB."""
    assert gaussian_qsnr(name, 0, 2**22) == pytest.approx(expected, abs=0.05)


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown number format 'mxfp7'.*mxint8"):
        number_format("mxfp7")
