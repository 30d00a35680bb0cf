"""Number-format studies on a trained model: QSNR per seed, direct casts and in-format training.

The MX paper (Rouhani et al., arXiv 2310.10537) and the BDR paper (arXiv 2302.08007) measure a
format two ways, and both reproductions do the same here:

* **QSNR on synthetic data** (:func:`qsnr_runs`): one :class:`~harness.experiment.SeedRun` per
  (format, seed) whose metric ``qsnr_db`` is measured on that seed's N(0, 1) draw, shared by
  every format of the seed, so orderings between formats are paired tests over seeds.
* **Direct-cast inference** (:func:`direct_cast_variants`, Sec. 4.1 of the MX paper): the trained
  FP32 model of each seed, without retraining or recalibration, with both operands of every
  matmul fake-quantised in blocks along the reduction axis (every ``nn.Linear``'s input and weight,
  DLRM's dot interaction's inputs); vector operations stay FP32. Each cast is a derived
  :class:`~harness.study.Variant` of the FP32 variant, so it is evaluated on the same weights and
  seed; :data:`CAST_CHANGES` adds its change against FP32 with
  :func:`~harness.study.relative_to_baseline`.
* **In-format training** (:func:`trained_in_format`, the MX paper's training table): the same
  model built from the same seed, with every ``nn.Linear``'s forward and both backward matmuls
  quantised (master weights FP32, straight-through estimator) and the interaction's inputs
  fake-quantised with a straight-through gradient; evaluated in the format.

:func:`format_study` / :func:`run_format_study` assemble the three on a DLRM for a paper whose
parameters are :class:`~harness.formats.params.FormatStudyParams`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any, Callable, Mapping, Sequence

from torch import nn

from harness.data.profile import profile_splits
from harness.embeddings.study import build_dlrm, ctr_train_config, table_factory
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.formats.elements import Rounding
from harness.formats.fake_quant import quantize_linears, quantize_module_inputs
from harness.formats.params import FormatStudyParams
from harness.formats.qsnr import gaussian, qsnr_db
from harness.formats.registry import number_format
from harness.models.interaction import DotInteraction
from harness.params import as_table
from harness.study import Study, StudyDesign, Trained, Variant, difference, percent_change, relative_to_baseline, run_study
from harness.train.trainer import evaluate

FP32 = "dlrm_fp32"
"""The FP32 DLRM every cast and in-format model is compared with, seed by seed."""
DLRM_PREFIX = "dlrm_"

CAST_CHANGES = {"auc_change": ("test_auc", difference),
                "logloss_change_pct": ("test_logloss", percent_change),
                "ne_change_pct": ("test_ne", percent_change)}
"""Quantities of a cast (or an in-format model) against its FP32 baseline of the same seed."""


def qsnr_runs(format_names: Sequence[str], seeds: Sequence[int], values: int) -> list[SeedRun]:
    """QSNR (dB) of every format on each seed's N(0, 1) draw of `values` values, blocks along the last axis.

    One run per (format, seed), model name = the format's name, metrics ``qsnr_db`` and
    ``bits_per_element``; the draw of a seed is shared by all formats (paired comparisons).
    """
    runs = []
    for seed in seeds:
        x = gaussian(seed, values)
        for name in format_names:
            fmt = number_format(name)
            started = time.perf_counter()
            qsnr = qsnr_db(x, fmt.quantize(x, axis=-1))
            runs.append(SeedRun(model=name, seed=seed, wall_time_s=time.perf_counter() - started,
                                metrics={"qsnr_db": qsnr, "bits_per_element": float(fmt.bits_per_element)},
                                config={"values": values, "distribution": "N(0, 1)"}))
    return runs


def qsnr_models(format_names: Sequence[str], values: int) -> dict[str, dict[str, Any]]:
    """The run record's description of each QSNR 'model' (a format on Gaussian data)."""
    return {name: {"description": f"{name} on {values:,} N(0, 1) values per seed, blocks along the last axis",
                   "bits_per_element": number_format(name).bits_per_element} for name in format_names}


def fake_quantize_matmuls(model: nn.Module, fmt: str, *, gradient_format: str | None = None,
                          rounding: Rounding = "even") -> nn.Module:
    """Fake-quantise, in place, both operands of every matmul of `model` in `fmt`; returns `model`.

    Every ``nn.Linear`` (input and weight along ``in_features``, and with `gradient_format` the
    backward matmuls too) and the inputs of every :class:`DotInteraction` (along the embedding
    dimension, straight-through gradient). Embedding tables and vector operations stay FP32, and so
    does a Linear without inputs (a bottom MLP over no dense features: a bias, no matmul).
    """
    quantize_linears(model, fmt, gradient_format=gradient_format, rounding=rounding,
                     include=lambda name, layer: layer.in_features > 0)
    for module in model.modules():
        if isinstance(module, DotInteraction):
            quantize_module_inputs(module, fmt, rounding=rounding)
    return model


def evaluate_test(model: nn.Module, splits: Any) -> dict[str, float]:
    """The test metrics (``test_auc``, ``test_logloss``, ``test_ne``, constant-predictor counterparts)
    of `model`'s current weights."""
    device = next(model.parameters()).device
    was_training = model.training
    metrics = evaluate(model, splits.test, [""], "test", device)
    model.train(was_training)
    return metrics


def final_test_metrics(trained: Trained) -> dict[str, float]:
    """A trained variant's `measure`: the test metrics of its final weights (the ones a cast starts from)."""
    return evaluate_test(trained.model, trained.data)


def direct_cast(fmt: str, rounding: Rounding = "even") -> Callable[[nn.Module, Any, SeedRun], tuple[dict[str, float], nn.Module]]:
    """The derivation of a direct cast to `fmt`: a copy of the trained model with its matmuls
    fake-quantised (:func:`fake_quantize_matmuls`), evaluated on the test split."""
    def derive(model: nn.Module, splits: Any, trained: SeedRun) -> tuple[dict[str, float], nn.Module]:
        cast = fake_quantize_matmuls(copy.deepcopy(model), fmt, rounding=rounding)
        return evaluate_test(cast, splits), cast
    return derive


def direct_cast_variants(baseline: str, format_names: Sequence[str], prefix: str,
                         rounding: Rounding = "even") -> dict[str, Variant]:
    """One derived variant ``<prefix><format>`` per format: `baseline`'s trained model cast to it, no retraining."""
    return {f"{prefix}{name}": Variant(
        f"the {baseline} model's matmuls direct-cast to {name} (weights and activations, blocks along the "
        "reduction axis; vector ops FP32), no retraining or recalibration",
        derived_from=baseline, derive=direct_cast(name, rounding),
        settings={"format": name, "bits_per_element": number_format(name).bits_per_element, "rounding": rounding},
        config={"format": name, "rounding": rounding}) for name in format_names}


def trained_in_format(variant: Variant, fmt: str, rounding: Rounding) -> Variant:
    """`variant` (a trained one) with its matmuls in `fmt` from the first step, forward and backward.

    Same build (so the same initial weights for a seed), same recipe; the model is evaluated in
    the format.
    """
    build = variant.build
    assert build is not None, "trained_in_format needs a trained variant"

    def build_in_format(data: Any) -> nn.Module:
        return fake_quantize_matmuls(build(data), fmt, gradient_format=fmt, rounding=rounding)

    return dataclasses.replace(
        variant, description=f"{variant.description}; trained and evaluated with every matmul in {fmt} "
                             f"(forward and backward, straight-through, FP32 master weights, rounding {rounding})",
        build=build_in_format, settings={**variant.settings, "format": fmt, "rounding": rounding},
        config={**variant.config, "format": fmt, "rounding": rounding})


def baseline_of(baselines: Mapping[str, str]) -> Callable[[str], str | None]:
    """``relative_to_baseline``'s lookup: each listed variant's baseline (a baseline is its own, so its
    changes are 0 and can stand on the other side of a paired claim)."""
    return lambda model: baselines.get(model)


def main_loaders(data: Any, seed: int) -> tuple[Any, dict[str, Any]]:
    """Train on the training split, select on validation; the test split is evaluated once, on the final
    weights (:func:`final_test_metrics`), as the casts are."""
    return data.train, {"val": data.val}


def trained_name(fmt: str) -> str:
    """The variant name of the DLRM trained in `fmt` (``dlrm_<format>_trained``)."""
    return f"{DLRM_PREFIX}{fmt}_trained"


def format_study_variants(p: FormatStudyParams) -> dict[str, Variant]:
    """The FP32 DLRM, its direct casts to ``p.cast_formats`` and, if ``p.train_format``, the DLRM trained in it.

    The DLRM has one plain table of width ``p.dim`` per sparse feature, a bottom MLP from the
    dense features through ``p.bottom_hidden`` to ``p.dim`` (on a dataset without dense features,
    such as Frappe, its input is empty and its output ReLU of a bias initialised at 0: a zero vector,
    so the interaction's information is the pairwise dot products of the tables), the dot
    interaction and the top MLP ``p.top``.
    """
    config = ctr_train_config(p.epochs, p.lr, p.optimizer, p.max_steps)
    make = table_factory("full", {})

    def build(splits: Any) -> nn.Module:
        return build_dlrm(splits.table_sizes, p.dim, [splits.num_dense, *p.bottom_hidden, p.dim], list(p.top), make)

    fp32 = Variant(f"DLRM (dim {p.dim}, top {list(p.top)}) trained and evaluated in FP32", build=build, train=config,
                   measure=final_test_metrics, settings={"format": "fp32"},
                   config={"optimizer": p.optimizer, "lr": p.lr, "epochs": p.epochs, "format": "fp32"})
    variants = {FP32: fp32, **direct_cast_variants(FP32, p.cast_formats, DLRM_PREFIX, p.cast_rounding)}
    if p.train_format:
        variants[trained_name(p.train_format)] = trained_in_format(fp32, p.train_format, p.train_rounding)
    return variants


def format_study(ctx: ExperimentContext) -> Study:
    """The study of :func:`format_study_variants` on the profile's data (``p.dataset``) for each seed."""
    p: FormatStudyParams = ctx.params
    return Study(variants=format_study_variants(p), loaders=main_loaders,
                 data=lambda source, seed: profile_splits(ctx.data_dir, ctx.work_dir, as_table(p), seed, p.dataset))


def run_format_study(ctx: ExperimentContext, design: StudyDesign, notes: Sequence[str] = ()) -> ExperimentResult:
    """Run `design` (a paper's module-level ``study``, normally :func:`format_study`), add every DLRM's
    :data:`CAST_CHANGES` against the FP32 model of its seed, and the QSNR runs of ``p.qsnr_formats``."""
    p: FormatStudyParams = ctx.params
    result = run_study(ctx, design)
    names = {run.model for run in result.runs if run.model.startswith(DLRM_PREFIX)}
    relative_to_baseline(result.runs, baseline_of({name: FP32 for name in names}), CAST_CHANGES)
    ctx.progress.log(f"QSNR of {len(p.qsnr_formats)} formats on {p.qsnr_values:,} N(0, 1) values x {len(ctx.seeds)} seeds")
    qsnr = qsnr_runs(p.qsnr_formats, ctx.seeds, p.qsnr_values)
    manifest = result.first_data().manifest
    common = [
        f"{p.dataset} rows (train/val/test): {manifest.get('splits')}; DLRM with {p.dim}-wide tables, top MLP "
        f"{list(p.top)}, {p.optimizer} lr {p.lr}, batch {p.batch_size}, {p.epochs} epoch(s); test metrics are "
        "those of the final weights, the weights every cast starts from.",
        f"Direct casts ({', '.join(p.cast_formats) or 'none'}; rounding {p.cast_rounding}): every nn.Linear's "
        "input and weight and the dot interaction's inputs fake-quantised in blocks along the reduction axis; "
        "embedding tables, bias adds, ReLU and the sigmoid stay FP32; nothing is recalibrated.",
        f"QSNR: {p.qsnr_values:,} N(0, 1) values per seed (one draw per seed shared by every format), "
        "blocks along the last axis.",
    ]
    if p.train_format:
        common.append(f"{trained_name(p.train_format)}: the same DLRM, same seed and recipe, trained with every "
                      f"Linear's forward and backward matmuls in {p.train_format} (rounding {p.train_rounding}) and "
                      "the interaction's inputs fake-quantised (straight-through); FP32 master weights; evaluated "
                      "in the format.")
    return ExperimentResult(runs=[*result.runs, *qsnr], dataset=manifest, protocol_notes=[*notes, *common],
                            models={**result.models, **qsnr_models(p.qsnr_formats, p.qsnr_values)})
