"""DLRM's NE over data, embedding dimension and top-MLP width, fitted as a power law plus constant (Ardalani et al. 2022).

The paper (arXiv 2208.08489, abstract) fits NE(x) = a·x^(−b) + c to DLRM-style models trained on
Meta's internal data, with x the training examples, the parameters or the compute, and finds
parameter scaling saturated while data scaling still pays. Its data and fitted exponents are not
available, so this reproduces the *methodology* on public data (every claim is transferred):

* sweeps (:func:`variants`): the reference DLRM (d = ``dim``, top MLP (``width``, ``width``/2))
  on nested fractions of the training split (``data_*``), and at full data over embedding
  dimensions (``emb_d*``) and top-MLP widths (``width_w*``); each point is trained to convergence
  (Adam, early stopping on validation NE, the best-validation evaluation reported) at its own
  learning rate from ``lr_grid`` chosen on a tuning seed (:func:`harness.study.run_tuned_study`);
* fits (:mod:`harness.scaling`): per sweep the constrained power law plus constant with bootstrap
  intervals over seeds (x: training rows, all parameters, dense parameters); the data sweep is
  validated by extrapolation (fit without its largest point, predict it), per seed and pooled;
* per seed, the quantities the claims compare (model ``scaling``): the extrapolation error and
  that of the flat forecast (the last measured point carried forward), and the relative NE gain of
  each sweep's last step per doubling of x.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np
from torch import nn

from harness.ctr_zoo import model_cost
from harness.data.api import Splits
from harness.data.fractions import with_train_fraction
from harness.data.profile import profile_splits
from harness.embeddings.study import build_dlrm, table_factory
from harness.errors import ConfigError, UserError
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.params import as_table
from harness.scaling import (MIN_POINTS, SWEEPS_SETTING, SweepTable, bootstrap_power_law, extrapolate_largest,
                             extrapolation_error, gain_per_doubling, sweep_table)
from harness.study import LrTuning, Study, Trained, Variant, run_tuned_study, with_lr_grid
from harness.train.trainer import TrainConfig
from papers.scaling_laws.params import Params

REFERENCE = "reference"
SCALING = "scaling"
METRIC = "test_ne"
PARAMETERS: tuple[Literal["a", "b", "c"], ...] = ("a", "b", "c")
SWEEP_X = {"data": "train_rows", "emb": "params", "width": "dense_params"}
"""Each sweep's x: training rows, all parameters (the paper's x for embedding scaling), dense parameters."""


def data_name(fraction: float) -> str:
    """``0.0625`` -> ``"data_1of16"``; a fraction that is not 1/n -> ``"data_0p3"``."""
    inverse = 1.0 / fraction
    if abs(inverse - round(inverse)) < 1e-9:
        return f"data_1of{round(inverse)}"
    return "data_" + f"{fraction:g}".replace(".", "p")


def source_of(fraction: float) -> str:
    """The study data source of a data fraction (``""``: the whole training split)."""
    return "" if fraction == 1.0 else f"fraction={fraction!r}"


def fraction_of(source: str) -> float:
    """Inverse of :func:`source_of`."""
    return 1.0 if not source else float(source.split("=", 1)[1])


def check(p: Params) -> None:
    """Refuse sweeps that cannot be fitted or models that cannot be built (a :class:`ConfigError` naming the field)."""
    for field, values in (("fractions", p.fractions), ("dims", p.dims), ("widths", p.widths)):
        if len(set(values)) < 4:
            raise ConfigError(f"scaling-laws: parameter '{field}' needs at least 4 distinct values for a 3-parameter "
                              f"fit, got {list(values)}")
    if any(not 0 < f <= 1 for f in p.fractions):
        raise ConfigError(f"scaling-laws: parameter 'fractions' must lie in (0, 1], got {list(p.fractions)}")
    if any(w < 2 for w in (*p.widths, p.width)) or any(d < 1 for d in (*p.dims, p.dim)):
        raise ConfigError("scaling-laws: widths must be at least 2 (hidden layers w and w/2) and dims at least 1")


def build(p: Params, dim: int, width: int) -> Any:
    """The DLRM of one sweep point: bottom MLP to `dim`, plain tables of `dim`, top MLP (width, width/2, 1)."""
    def make(splits: Splits) -> nn.Module:
        return build_dlrm(splits.table_sizes, dim, [splits.num_dense, *p.bottom_hidden, dim], [width, width // 2, 1],
                          table_factory("full", {}))
    return make


def measure(trained: Trained) -> dict[str, float]:
    """Parameters (all, dense), forward FLOPs per example and the training rows of the point."""
    return {**model_cost(trained), "train_rows": float(len(trained.data.train.split))}


def train_config(p: Params) -> TrainConfig:
    """Adam at the grid's first rate (the grid sets each trial's), evaluated every ``eval_every_steps`` and
    stopped after ``patience`` evaluations without a better validation NE, at most ``max_steps`` steps."""
    return TrainConfig(epochs=p.max_steps, lr=p.lr_grid[0], optimizer="adam", early_stopping_patience=p.patience,
                       eval_every_steps=p.eval_every_steps, max_steps=p.max_steps, loss="bce_ne")


def variants(p: Params) -> dict[str, Variant]:
    """The reference and every other point of the three sweeps, each tagged with its sweeps and their x metric."""
    check(p)
    config = train_config(p)
    recorded = {"optimizer": "adam", "batch_size": p.batch_size, "max_steps": p.max_steps, "patience": p.patience}

    def point(description: str, dim: int, width: int, sweeps: list[str], fraction: float = 1.0) -> Variant:
        return Variant(description, build=build(p, dim, width), train=config, source=source_of(fraction),
                       measure=measure, config={**recorded, "fraction": fraction},
                       settings={SWEEPS_SETTING: {s: SWEEP_X[s] for s in sweeps}, "dim": dim, "width": width,
                                 "fraction": fraction})

    reference_sweeps = [s for s, values, value in (("data", p.fractions, 1.0), ("emb", p.dims, p.dim),
                                                   ("width", p.widths, p.width)) if value in values]
    out = {REFERENCE: point(f"DLRM d = {p.dim}, top MLP ({p.width}, {p.width // 2}), all training data",
                            p.dim, p.width, reference_sweeps)}
    for f in sorted(set(p.fractions) - {1.0}):
        out[data_name(f)] = point(f"the reference on the first {f:g} of one shuffled order of the training rows",
                                  p.dim, p.width, ["data"], f)
    for d in sorted(set(p.dims) - {p.dim}):
        out[f"emb_d{d}"] = point(f"the reference with embedding dimension {d}", d, p.width, ["emb"])
    for w in sorted(set(p.widths) - {p.width}):
        out[f"width_w{w}"] = point(f"the reference with top MLP ({w}, {w // 2})", p.dim, w, ["width"])
    return out


def study(ctx: ExperimentContext) -> Study:
    """Every sweep point at every rate of the grid; a data point reads its fraction of the profile's training split."""
    p: Params = ctx.params

    def data(source: str, seed: int) -> Splits:
        splits = profile_splits(ctx.data_dir, ctx.work_dir, as_table(p), seed)
        return with_train_fraction(splits, fraction_of(source), p.order_seed)

    return Study(variants=with_lr_grid(variants(p), p.lr_grid), data=data)


def per_seed_quantities(tables: dict[str, SweepTable]) -> list[SeedRun]:
    """The ``scaling`` runs, one per seed: data-sweep extrapolation errors and every sweep's gain per doubling.

    ``data_predicted_test_ne``: the law fitted to the seed's data sweep without its largest point,
    at that point; ``data_abs_extrapolation_error`` its distance from the measured NE;
    ``data_abs_flat_error`` that of the flat forecast (the second-largest point's NE);
    ``gain_per_doubling_<sweep>``: :func:`harness.scaling.gain_per_doubling` of the seed's sweep.
    A seed whose fit fails gets no extrapolation quantities.
    """
    seeds = sorted(set.intersection(*(set(t.seeds) for t in tables.values())))
    runs = []
    for seed in seeds:
        metrics: dict[str, float] = {}
        for name, table in tables.items():
            metrics[f"gain_per_doubling_{name}"] = gain_per_doubling(table.x, table.y[table.seeds.index(seed)])
        data = tables.get("data")
        if data is not None:
            y = data.y[data.seeds.index(seed)]
            try:
                error = extrapolation_error(data.x, y)
            except UserError:
                error = math.nan
            if not math.isnan(error):
                metrics.update(data_predicted_test_ne=y[-1] + error, data_abs_extrapolation_error=abs(error),
                               data_abs_flat_error=abs(y[-2] - y[-1]))
        runs.append(SeedRun(model=SCALING, seed=seed, metrics=metrics, config={"derived_from": "sweeps"}))
    return runs


def fit_notes(tables: dict[str, SweepTable], p: Params) -> tuple[list[str], dict[str, Any]]:
    """Protocol sentences and a record entry with each sweep's pooled fit, its bootstrap intervals and
    the pooled extrapolation of the data sweep."""
    notes, fits = [], {}
    for name, table in tables.items():
        fit = bootstrap_power_law(table.x, table.y, "seeds", p.replicates, p.level)
        intervals = {k: fit.interval(k) for k in PARAMETERS}
        fits[name] = {"x": SWEEP_X[name], "a": fit.law.a, "b": fit.law.b, "c": fit.law.c,
                      **{f"{k}_interval": [iv.low, iv.high] for k, iv in intervals.items()}}
        notes.append(f"{name} sweep ({SWEEP_X[name]} {', '.join(f'{x:,.0f}' for x in table.x)}; {len(table.seeds)} "
                     f"seeds): NE = {fit.law.a:.4g}·x^(−{fit.law.b:.3f}) + {fit.law.c:.4f}; {p.level:.0%} bootstrap "
                     f"intervals over seeds b [{intervals['b'].low:.3f}, {intervals['b'].high:.3f}], "
                     f"c [{intervals['c'].low:.4f}, {intervals['c'].high:.4f}].")
    data = tables.get("data")
    if data is not None and len(data.x) <= MIN_POINTS:
        notes.append(f"Data-sweep extrapolation not done: {len(data.x)} points leave {len(data.x) - 1} to fit, and a "
                     f"3-parameter law needs {MIN_POINTS}.")
    elif data is not None:
        held = extrapolate_largest(data.x, data.y, "seeds", p.replicates, p.level)
        fits["data_extrapolation"] = {"x": held.x_held_out, "predicted": held.predicted,
                                      "interval": [held.interval.low, held.interval.high],
                                      "measured_mean": held.measured_mean, "measured_sd": held.measured_sd,
                                      "error_interval": [held.error_interval.low, held.error_interval.high],
                                      "covered": held.covered}
        notes.append(f"Data-sweep extrapolation (fit without the largest point, seed means, bootstrap over seeds): "
                     f"predicted NE {held.predicted:.4f} at {held.x_held_out:,.0f} rows, {p.level:.0%} interval "
                     f"[{held.interval.low:.4f}, {held.interval.high:.4f}]; measured {held.measured_mean:.4f} ± "
                     f"{held.measured_sd:.4f} (sd over seeds): error {held.error:+.4f} "
                     f"({100 * held.relative_error:+.2f}% relative, {held.error / held.measured_sd:+.2f} seed sd); "
                     f"{p.level:.0%} bootstrap interval of the error (fit and held-out mean redrawn from the same "
                     f"seeds) [{held.error_interval.low:+.4f}, {held.error_interval.high:+.4f}]: the prediction "
                     f"{'agrees with' if held.covered else 'misses'} the measurement.")
    return notes, fits


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Tune and train every sweep point on every seed, fit the sweeps, derive the per-seed claim quantities."""
    p: Params = ctx.params
    tuned = run_tuned_study(ctx, study, LrTuning(grid=p.lr_grid, seed=p.tuning_seed, select="val_ne", maximize=False))
    result = tuned.result
    records = [dataclasses.asdict(r) for r in result.runs]
    tables = {name: sweep_table(records, result.models, name, METRIC) for name in SWEEP_X
              if any(name in d.get(SWEEPS_SETTING, {}) for d in result.models.values())}
    notes, fits = fit_notes(tables, p)
    derived = per_seed_quantities(tables)
    manifest = result.first_data().manifest
    models = {**result.models, SCALING: {"description": "per-seed fits of the sweeps (no model)", "fits": fits}}
    ctr = np.mean([r.metrics["test_ctr"] for r in result.runs if r.model == REFERENCE])
    protocol = [
        f"Data: {p.dataset} {manifest.get('splits')} (train/val/test), test CTR {ctr:.3f}; the data sweep trains on "
        f"nested prefixes {list(p.fractions)} of one shuffled order (order seed {p.order_seed}) of the training "
        "split, validation and test fixed. The paper's data (Meta internal, up to billions of examples) is not "
        "public: every claim is a transferred methodology check.",
        f"Every point: DLRM (bottom {[13, *p.bottom_hidden]} to d, plain tables, dot interaction, top MLP (w, w/2)), "
        f"Adam, batch {p.batch_size}, evaluated every {p.eval_every_steps} steps, early stopping after {p.patience} "
        f"evaluations without a better validation NE (at most {p.max_steps} steps), the best-validation-NE "
        f"evaluation reported; learning rate per point from {list(p.lr_grid)} by validation NE on tuning seed "
        f"{p.tuning_seed}: " + ", ".join(f"{m} {lr:g}" for m, lr in tuned.chosen.items()) + ".",
        "Fits: NE = a·x^(−b) + c by constrained least squares (a > 0, 0 < b ≤ 3, 0 ≤ c ≤ min NE; "
        "scipy curve_fit, trust-region reflective), seed means; intervals by resampling whole seeds "
        f"({p.replicates} replicates; with few seeds the bootstrap has few distinct draws, so the intervals are "
        "rough).",
        *notes,
    ]
    return ExperimentResult(runs=[*result.runs, *derived], dataset=manifest, protocol_notes=protocol, models=models)
