"""Shared microexponents (Rouhani et al., ISCA'23, arXiv 2302.08007): MX9/MX6/MX4 against block floating point.

Per seed: the QSNR of the three two-level formats (8-bit exponent per 16 values, 1-bit
microexponent per 2) and of single-level block floating point with the same mantissa on that
seed's N(0, 1) draw; and a DLRM trained in FP32, then direct-cast to each of the six formats
without retraining. Everything but the choice of formats and the notes is the harness's
number-format study (:mod:`harness.formats.study`).
"""

from __future__ import annotations

from harness.experiment import ExperimentContext, ExperimentResult
from harness.formats.study import format_study, run_format_study
from harness.study import Study


def study(ctx: ExperimentContext) -> Study:
    """The FP32 DLRM and its casts to MX9/MX6/MX4 and BFP (module-level for --jobs workers)."""
    return format_study(ctx)


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Train the FP32 DLRMs, cast each to every format, measure every format's QSNR; per seed."""
    notes = ["The paper's QSNR figure, cost model and recommendation results are not verified in the research "
             "notes (only its first page and AMD Quark's description of the formats were available): QSNR here "
             "is this harness's measurement on N(0, 1), and the DLRM claims are transferred to a small DLRM on "
             "public Frappe data.",
             "MX9/MX6/MX4 follow AMD Quark's description of the paper (bit-equal to Quark's fake_quantize_mx6_mx9, "
             "ties to even; the paper's rounding is not stated); BFP is the same block of 16 with an 8-bit shared "
             "exponent and no microexponent."]
    return run_format_study(ctx, study, notes)
