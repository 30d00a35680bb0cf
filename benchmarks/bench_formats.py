"""Number-format benchmarks: quantise-dequantise speed per format, the error it buys, and what fake
quantisation costs in a DLRM forward pass (harness.formats; MX arXiv 2310.10537, BDR arXiv 2302.08007).

``QuantizeDequantize`` times one fake quantisation of 2^20 N(0, 1) values per format (blocks along
the contiguous last axis, and along the first axis, which moves the data) and tracks the error
as ``-QSNR`` in dB, so that, as for every asv number, lower is better.

``FakeQuantDLRMForward`` runs the DLRM Kaggle shape (bottom 13-512-256-64-16, top 512-256-1,
26 tables of dim 16, here 1,000 rows each: the lookups are not what is measured) on one batch of
2048, in FP32 and with every Linear's input and weight and the interaction's inputs
fake-quantised (:mod:`harness.formats.fake_quant`). ``track_overhead_ratio`` is the quantised
forward's time over the FP32 forward's on the same batch, both timed in alternation (median of
the per-round ratios, which cancels the machine's drift).
"""

from __future__ import annotations

import copy
import statistics
import time

import torch

from harness.formats.bdr import BDR_FORMATS
from harness.formats.fake_quant import quantize_linears, quantize_module_inputs
from harness.formats.mx import MX_FORMATS
from harness.formats.qsnr import gaussian, qsnr_db
from harness.formats.registry import number_format
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.synthetic import random_ctr_batches

from .common import SEED

BLOCK_FORMATS = [*MX_FORMATS, *BDR_FORMATS]
VALUES = 2**20


class QuantizeDequantize:
    """One quantise-dequantise of 2^20 Gaussian values (1024 x 1024) per format."""

    params = BLOCK_FORMATS
    param_names = ["format"]

    def setup(self, name: str) -> None:
        """Draw the values once, outside the timed region."""
        self.format = number_format(name)
        self.x = gaussian(SEED, VALUES)

    def time_last_axis(self, name: str) -> None:
        """Blocks along the contiguous last axis (a Linear's input or weight along in_features)."""
        self.format.quantize(self.x, axis=-1)

    def time_first_axis(self, name: str) -> None:
        """Blocks along the first axis (a weight-gradient operand along the batch)."""
        self.format.quantize(self.x, axis=0)

    def track_noise_db(self, name: str) -> float:
        """``-QSNR`` of the format on these values, dB (lower is better)."""
        return -qsnr_db(self.x, self.format.quantize(self.x, axis=-1))

    track_noise_db.unit = "-QSNR dB"  # type: ignore[attr-defined]


BOTTOM, TOP, TABLES, ROWS, BATCH = [13, 512, 256, 64, 16], [512, 256, 1], 26, 1_000, 2048


def kaggle_shaped_dlrm() -> DLRM:
    """The DLRM Kaggle configuration with small tables, seeded."""
    torch.manual_seed(SEED)
    return DLRM.from_tables(BOTTOM, TOP, make_tables([f"f{i}" for i in range(TABLES)], [ROWS] * TABLES, BOTTOM[-1]))


def fake_quantised(model: DLRM, name: str) -> DLRM:
    """A copy of `model` with every Linear and the interaction's inputs fake-quantised in `name`."""
    quantized = copy.deepcopy(model)
    quantize_linears(quantized, name)
    quantize_module_inputs(quantized.interaction, name)
    return quantized


class FakeQuantDLRMForward:
    """FP32 forward against the fake-quantised forward of the Kaggle-shaped DLRM, batch 2048, no grad."""

    params = ["mxint8", "mxfp8_e4m3", "mxfp6_e2m3", "mxfp4", "mx9", "mx6", "mx4"]
    param_names = ["format"]
    timeout = 300
    rounds = 5

    def setup(self, name: str) -> None:
        """Build both models and the batch outside the timed region."""
        self.fp32 = kaggle_shaped_dlrm().eval()
        self.quantized = fake_quantised(self.fp32, name).eval()
        self.batch = random_ctr_batches(1, BATCH, BOTTOM[0], [ROWS] * TABLES, seed=SEED)[0]

    def time_forward(self, name: str) -> None:
        """The fake-quantised forward."""
        with torch.no_grad():
            self.quantized(self.batch)

    def track_overhead_ratio(self, name: str) -> float:
        """Median over rounds of (fake-quantised forward time) / (FP32 forward time), timed alternately."""
        ratios = []
        with torch.no_grad():
            self.fp32(self.batch), self.quantized(self.batch)  # warm-up
            for _ in range(self.rounds):
                start = time.perf_counter()
                self.fp32(self.batch)
                middle = time.perf_counter()
                self.quantized(self.batch)
                ratios.append((time.perf_counter() - middle) / (middle - start))
        return statistics.median(ratios)

    track_overhead_ratio.unit = "time ratio"  # type: ignore[attr-defined]
