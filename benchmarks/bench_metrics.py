"""Evaluation-metric benchmarks: the cost of scoring a whole evaluation split.

Every epoch of every run ends with :func:`harness.metrics.binary_metrics` over the
validation and test splits (Criteo's test day is ~6.5M rows), so its time per call bounds how
often a paper can afford to evaluate.

Direction: asv counts every number as lower-is-better; these are ``time_*`` (seconds) and
``peakmem_*`` (bytes) benchmarks, both of which asv measures that way round already.
"""

from __future__ import annotations

import torch

from harness.metrics import binary_metrics

from .common import synthetic_scores


class BinaryMetrics:
    """AUC, log loss, NE, accuracy and calibration over `rows` predictions."""

    params = [10_000, 100_000, 1_000_000]
    param_names = ["rows"]

    def setup(self, rows: int) -> None:
        """Draw the logits and labels outside the timed region."""
        self.logits, self.labels = synthetic_scores(rows)

    def time_binary_metrics(self, rows: int) -> None:
        """One call on float32 logits, as the trainer passes them."""
        binary_metrics(self.logits, self.labels)

    def peakmem_binary_metrics(self, rows: int) -> None:
        """Peak memory of one call (it works in float64, 8 bytes a row per temporary)."""
        binary_metrics(self.logits, self.labels)


class BinaryMetricsDtype:
    """The same call on 1M rows when the model emits float16/bfloat16/float64 logits."""

    params = ["float16", "bfloat16", "float64"]
    param_names = ["dtype"]

    def setup(self, dtype: str) -> None:
        """Cast the logits outside the timed region."""
        logits, self.labels = synthetic_scores(1_000_000)
        self.logits = logits.to(getattr(torch, dtype))

    def time_binary_metrics(self, dtype: str) -> None:
        """One call; the cast to float64 inside is part of the cost."""
        binary_metrics(self.logits, self.labels)
