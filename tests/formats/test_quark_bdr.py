"""Equality with a peer implementation of BDR's MX9/MX6/MX4: AMD Quark's ``fake_quantize_mx6_mx9``.

The golden fixture ``tests/fixtures/formats/quark_bdr.npz`` holds, per format, blocks of 16 with a
block exponent of 0, 30 below and 41 above, each code value, each tie (half-integer code) and its
two float32 neighbours in sub-blocks with and without the microexponent shift, heavy-tailed random
blocks and zero blocks, with Quark's outputs. It was produced outside the project with
``amd-quark`` 0.13 from PyPI (``quant_bit`` 8 / 5 / 3, ``sub_block_size`` 2, ``block_size`` 16) on
CPU; on 2^20 random heavy-tailed values the two agree bit for bit too. Quark rounds ties to even,
so the comparison uses ``rounding="even"``.

Left out on purpose: float32 subnormal inputs (Quark flushes them to zero, the harness keeps them)
and non-finite values (Quark quantises the rest of the block and passes Inf/NaN through; the harness
makes the block NaN, as MX does).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.formats.bdr import BDR_FORMATS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "formats" / "quark_bdr.npz"


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    """The fixture's arrays: ``<format>/input``, ``<format>/even`` and ``source``."""
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


def test_fixture_names_its_source(golden: dict[str, np.ndarray]) -> None:
    assert str(golden["source"]).startswith("amd-quark 0.13")


@pytest.mark.parametrize("name", ["mx9", "mx6", "mx4"])
def test_matches_quark(golden: dict[str, np.ndarray], name: str) -> None:
    x = torch.from_numpy(golden[f"{name}/input"])
    expected = torch.from_numpy(golden[f"{name}/even"])
    ours = BDR_FORMATS[name].quantize(x, rounding="even")
    assert torch.equal(ours, expected)
    assert (ours != x).sum() > 0.3 * x.numel(), "the fixture must exercise rounding, not only exact values"
