"""The CTR model zoo on a field-embedding dataset (Frappe): baselines, recipe, cost, shared by the architecture papers.

Wukong (Zhang et al. 2024, Table 2) and DHEN (Zhang et al. 2022, Tables 2-3) compare a new
interaction architecture with the classic CTR models on the same field embeddings. This module
gives them that comparison once:

* :class:`ZooParams`: the profile parameters every model shares (data, embedding width, recipe,
  learning-rate grid and tuning seed) and the baselines' sizes;
* :func:`baseline_variants`: logistic regression, FM, DLRM, DCN v1, DCNv2 and FinalMLP as study
  variants over :func:`~harness.models.fields.field_embeddings` (dense features, if any, enter
  through a bottom MLP as field 0);
* :func:`zoo_variant`: any model builder as a variant with the shared recipe (Adam on every
  parameter, tables included, as the BARS benchmark trains them; early stopping on validation
  AUC, the best-validation evaluation reported) and its cost measured after training
  (:func:`model_cost`: parameters, dense parameters, forward FLOPs per example);
* :func:`zoo_study`: the variants at every rate of the learning-rate grid on the profile's
  splits, for :func:`harness.study.run_tuned_study` (an equal tuning budget for every model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from torch import nn

from harness.data.api import Splits
from harness.data.profile import profile_splits
from harness.errors import ConfigError
from harness.experiment import ExperimentContext
from harness.models.dcn import DCN, DCNv2
from harness.models.dlrm import FieldDLRM
from harness.models.embedding import PooledEmbeddings
from harness.models.fields import FieldEmbeddings, field_embeddings
from harness.models.finalmlp import FinalMLP
from harness.models.flops import flops_per_example
from harness.models.fm import FM
from harness.models.linear import LogisticRegression
from harness.params import DataParams, as_table
from harness.study import LrTuning, Study, Trained, Variant, with_lr_grid
from harness.train.trainer import TrainConfig, count_parameters

FRAPPE = "frappe"
BASELINES = ("lr", "fm", "dlrm", "dcn", "dcnv2", "finalmlp")


@dataclass(frozen=True)
class ZooParams(DataParams):
    """What every model of a CTR zoo comparison shares, and the baselines' sizes (BARS-style small settings)."""

    dataset: str = FRAPPE
    """A dataset id (`repro data list`): frappe (validation file split 80/20 + official test), frappe-bars."""
    batch_size: int = 1024
    """Training batch size."""
    dim: int = 16
    """Embedding width d of every field."""
    bottom: tuple[int, ...] = (64,)
    """Bottom-MLP hidden widths of the dense features (datasets with dense features only)."""
    epochs: int = 10
    """Most passes over the training split."""
    patience: int | None = 2
    """Evaluations without a better validation AUC before stopping (None: train every epoch)."""
    eval_every_steps: int | None = None
    """Evaluate every N steps (and at the end) instead of after each epoch."""
    max_steps: int | None = None
    """Stop training after N steps (smoke runs)."""
    lr_grid: tuple[float, ...] = (1e-3, 3e-3)
    """Adam learning rates each model is tuned over (on the tuning seed)."""
    tuning_seed: int = 1000
    """The seed of the tuning trials; outside the evaluated seeds 0..N-1."""
    baselines: tuple[str, ...] = ("dlrm", "dcnv2", "finalmlp")
    """Baselines to train: lr, fm, dlrm, dcn (v1), dcnv2, finalmlp."""
    dlrm_top: tuple[int, ...] = (64, 64)
    """DLRM top-MLP hidden widths (over the pairwise dot products)."""
    cross_layers: int = 3
    """DCN / DCNv2 cross layers."""
    deep: tuple[int, ...] = (64, 64)
    """DCN / DCNv2 deep-network widths (parallel structure)."""
    finalmlp_mlp: tuple[int, ...] = (64, 64)
    """Widths of each of FinalMLP's two streams."""
    finalmlp_gate: tuple[int, ...] = (64,)
    """FinalMLP feature-gating hidden widths."""
    finalmlp_heads: int = 2
    """FinalMLP bilinear-fusion heads."""


def fields_of(splits: Splits, p: ZooParams) -> FieldEmbeddings:
    """The shared front-end: one ``p.dim``-wide table per sparse feature (and a bottom-MLP field for dense ones)."""
    return field_embeddings(splits.table_sizes, p.dim, num_dense=splits.num_dense,
                            bottom=list(p.bottom) if splits.num_dense else ())


def train_config(p: ZooParams) -> TrainConfig:
    """The shared recipe at the grid's first rate (:func:`~harness.study.with_lr_grid` sets each trial's)."""
    return TrainConfig(epochs=p.epochs, lr=p.lr_grid[0], optimizer="adam", early_stopping_patience=p.patience,
                       eval_every_steps=p.eval_every_steps, max_steps=p.max_steps)


def model_cost(trained: Trained) -> dict[str, float]:
    """Parameters (all, and without the embedding tables) and forward FLOPs per example on a validation batch
    (matrix products, :mod:`harness.models.flops`)."""
    model = trained.model
    tables = sum(count_parameters(m) for m in model.modules() if isinstance(m, PooledEmbeddings))
    batch = next(iter(trained.data.val)).to(next(model.parameters()).device)
    return {"params": float(count_parameters(model)), "dense_params": float(count_parameters(model) - tables),
            "flops_per_example": flops_per_example(model, batch, int(batch.labels.shape[0]))}


def zoo_variant(description: str, build: Callable[[Splits], nn.Module], p: ZooParams,
                settings: Mapping[str, Any] | None = None,
                measure: Callable[[Trained], dict[str, float]] | None = None) -> Variant:
    """`build` trained by the shared recipe, its cost (and `measure`, if given) measured after training."""
    def measured(trained: Trained) -> dict[str, float]:
        return {**model_cost(trained), **(measure(trained) if measure else {})}

    return Variant(description, build=build, train=train_config(p), measure=measured, settings=dict(settings or {}),
                   config={"optimizer": "adam", "epochs": p.epochs, "batch_size": p.batch_size})


def _linear(splits: Splits) -> LogisticRegression:
    """Logistic regression over TorchRec tables, trained densely by Adam like every other model's
    (FBGEMM's width-multiple-of-4 rule applies only to fused tables)."""
    return LogisticRegression(splits.num_dense, splits.table_sizes, backend="torchrec")


def baseline_builders(p: ZooParams) -> dict[str, tuple[str, Callable[[Splits], nn.Module]]]:
    """Every baseline of :data:`BASELINES`: (description, builder over a split's features)."""
    return {
        "lr": ("logistic regression (one weight per value)", _linear),
        "fm": (f"FM, factors of width {p.dim}", lambda s: FM(fields_of(s, p), _linear(s))),
        "dlrm": (f"DLRM: pairwise dot products -> top MLP {list(p.dlrm_top)}",
                 lambda s: FieldDLRM(fields_of(s, p), p.dlrm_top)),
        "dcn": (f"DCN v1: {p.cross_layers} vector cross layers || deep {list(p.deep)}",
                lambda s: DCN(fields_of(s, p).sparse, s.num_dense, p.cross_layers, list(p.deep))),
        "dcnv2": (f"DCNv2 (TorchRec CrossNet): {p.cross_layers} matrix cross layers || deep {list(p.deep)}",
                  lambda s: DCNv2(fields_of(s, p), p.cross_layers, p.deep)),
        "finalmlp": (f"FinalMLP: two gated streams {list(p.finalmlp_mlp)}, {p.finalmlp_heads}-head bilinear fusion",
                     lambda s: FinalMLP(fields_of(s, p), p.finalmlp_mlp, p.finalmlp_mlp, gate_hidden=p.finalmlp_gate,
                                        num_heads=p.finalmlp_heads)),
    }


def baseline_variants(p: ZooParams, names: Sequence[str] | None = None) -> dict[str, Variant]:
    """The baselines named in `names` (default ``p.baselines``) as variants with the shared recipe."""
    builders = baseline_builders(p)
    chosen = list(p.baselines if names is None else names)
    unknown = [n for n in chosen if n not in builders]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown}; known: {', '.join(BASELINES)}")
    return {n: zoo_variant(builders[n][0], builders[n][1], p, {"family": "baseline"}) for n in chosen}


def zoo_study(ctx: ExperimentContext, p: ZooParams, variants: Mapping[str, Variant]) -> Study:
    """`variants` at every rate of ``p.lr_grid``, each seed on the profile's splits (its own batch order)."""
    return Study(variants=with_lr_grid(variants, p.lr_grid),
                 data=lambda source, seed: profile_splits(ctx.data_dir, ctx.work_dir, as_table(p), seed,
                                                          default_dataset=FRAPPE))


def tuning(p: ZooParams, tuned_by: Mapping[str, str] | None = None, select: str = "val_auc") -> LrTuning:
    """The profile's equal tuning budget: ``p.lr_grid`` on ``p.tuning_seed``, by the validation metric `select`."""
    return LrTuning(grid=p.lr_grid, seed=p.tuning_seed, tuned_by=dict(tuned_by or {}), select=select)


def recipe_note(p: ZooParams) -> str:
    """One protocol sentence with the shared recipe."""
    stop = f"early stopping after {p.patience} evaluations without a better validation AUC" if p.patience else \
        "no early stopping"
    return (f"Every model: embeddings d = {p.dim}, Adam on every parameter (tables included), batch {p.batch_size}, "
            f"at most {p.epochs} epoch(s), {stop}; the best-validation-AUC evaluation is reported. Learning rate "
            f"per model from {list(p.lr_grid)} by validation AUC on tuning seed {p.tuning_seed} (not an "
            "evaluated seed): the same budget for every model.")
