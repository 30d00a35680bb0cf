"""DCT and codistillation benchmarks: the cost of DCT's filters, and of a codistillation step against a plain one.

``DctThreshold`` times the top-K threshold recomputation (what DCT-DP avoids on most steps) against
the hard-threshold filter with a known ``tau`` (what it pays every step), on a 1M-entry gradient;
``DctBoundary`` the DCT-MP mask on a ``[4096, 416]`` boundary (26 tables of dimension 16).
``CodistillationStep`` times one training step of a single small DLRM and of a codistilled pair
(two students and two stale teachers' forward passes) on the same 512-row batch.
"""

from __future__ import annotations

import torch

from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.loop import ctr_optimizers
from harness.train.synthetic import random_ctr_batches
from papers.codistillation.experiment import Codistillation, distillation_loss
from papers.codistillation.params import Params
from papers.dct.dct import BoundaryThreshold, hard_threshold, kth_largest_magnitude

ENTRIES = 1_000_000
KEEP = 0.005
ROWS = [1000] * 26


class DctThreshold:
    """Seconds of the top-K threshold (every `period` steps) and of the filter itself (every step)."""

    def setup(self) -> None:
        """A seeded 1M-entry gradient and its threshold."""
        self.gradient = torch.randn(ENTRIES, generator=torch.Generator().manual_seed(0))
        self.tau = kth_largest_magnitude(self.gradient, KEEP)

    def time_recompute_threshold(self) -> None:
        """The K-th largest magnitude (K = 0.5%)."""
        kth_largest_magnitude(self.gradient, KEEP)

    def time_filter_with_known_threshold(self) -> None:
        """The hard-threshold filter: indices and values of the entries reaching tau."""
        hard_threshold(self.gradient, self.tau)


class DctBoundary:
    """Seconds of the DCT-MP mask on a 4,096-row boundary of 26 x 16 pooled embeddings."""

    params = ["threshold", "per_sample_topk"]
    param_names = ["mode"]

    def setup(self, mode: str) -> None:
        """The filter (keep 5%) and a seeded boundary tensor."""
        self.boundary = BoundaryThreshold(0.05, period=1000, mode=mode)  # type: ignore[arg-type]
        self.activations = torch.randn(4096, 26 * 16, generator=torch.Generator().manual_seed(0))
        self.boundary(self.activations)

    def time_mask(self, mode: str) -> None:
        """One forward pass through the filter."""
        self.boundary(self.activations)


def _dlrm() -> DLRM:
    return DLRM.from_tables([13, 64, 16], [64, 1], make_tables([f"f{i}" for i in range(len(ROWS))], ROWS, 16))


class CodistillationStep:
    """Seconds of one training step: a single DLRM, and a codistilled pair with its stale teachers."""

    def setup(self) -> None:
        """Models, optimizers and one 512-row batch (seeded)."""
        torch.manual_seed(0)
        self.batch = random_ctr_batches(1, 512, 13, ROWS, seed=0)[0]
        self.single = _dlrm()
        self.optimizers = ctr_optimizers(self.single, 1e-3, 0.05)
        self.pair = Codistillation([_dlrm(), _dlrm()], Params(), weight=1.0, refresh=100, burn_in=0)

    def time_single_step(self) -> None:
        """Forward, backward and update of one DLRM."""
        self.optimizers.zero_grad()
        distillation_loss(self.single(self.batch), self.batch.labels, None, 0.0).backward()
        self.optimizers.step()

    def time_codistilled_pair_step(self) -> None:
        """Both members' steps with the distillation term (two extra forward passes of the stale copies)."""
        self.pair.step(self.batch)
