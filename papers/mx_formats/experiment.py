"""MX formats (Rouhani et al. 2023, arXiv 2310.10537): QSNR, DLRM direct-cast inference and MXFP6 training.

Per seed: the QSNR of Table 1's six concrete MX formats on that seed's N(0, 1) draw; a DLRM trained
in FP32, then direct-cast to each format without retraining (Sec. 4.1: both operands of every
matmul in the format, vector operations in higher precision, here FP32); and the same DLRM trained
from the same initial weights with every matmul in MXFP6 E3M2, forward and backward (the paper's
training table, GPT-like models there). Everything but the choice of formats and the notes is the
harness's number-format study (:mod:`harness.formats.study`).
"""

from __future__ import annotations

from harness.experiment import ExperimentContext, ExperimentResult
from harness.formats.study import format_study, run_format_study
from harness.study import Study


def study(ctx: ExperimentContext) -> Study:
    """The FP32 DLRM, its casts to the MX formats and the MXFP6-trained DLRM (module-level for --jobs workers)."""
    return format_study(ctx)


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Train the DLRMs, cast the FP32 one to every MX format, measure every format's QSNR; per seed."""
    notes = ["The paper's direct-cast and training results are on language, vision and speech models and a DLRM "
             "whose numbers are not verified in the research notes; every DLRM claim here is transferred to a "
             "small DLRM on public Frappe data, and the paper's percentages are context, not targets.",
             "QSNR is this harness's measurement (not a paper number); MX element formats and scale follow "
             "Table 1 and Algorithm 1, bit-equal to torchao and microxcaling (harness/formats/README.md)."]
    return run_format_study(ctx, study, notes)
