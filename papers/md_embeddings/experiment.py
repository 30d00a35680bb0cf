"""Mixed-dimension embeddings against uniform dimensions at equal and larger budgets (Ginart et al. 2019).

Two tasks, one per entry of ``params["tasks"]``:

* ``ctr`` (Criteo, DLRM): one block per table with popularity ``1 / rows``; ``uniform_<d>`` gives
  every table width ``d`` (the whole DLRM at width ``d``); ``md_<alpha>_<f>x`` fits the alpha rule
  to ``1/f`` of the ``uniform_<base>`` table parameters and projects every table to ``base``.
  Trained with the shared trainer (BCE); accuracy and log loss are compared.
* ``cf`` (MovieLens explicit ratings, matrix factorization, MSE): the user and item tables are
  cut into ``blocks`` blocks of equal popularity mass by training counts (paper Sec. 3); same
  model names; trained by the shared trainer with Adam on MSE (best validation RMSE); test MSE
  is compared.

Every run records the measured parameter count and bytes of its embedding front-end, and
``params_vs_base``, its embedding parameters over the ``uniform_<base>`` model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from harness.data.api import Splits
from harness.data.profile import profile_splits
from harness.embeddings.collection import TableCollection
from harness.embeddings.mixed_dim import MixedDimEmbeddingBag, alpha_power_dims, frequency_blocks
from harness.embeddings.study import (ctr_train_config, ctr_variant, build_dlrm, front_end_sizes, id_counts,
                                      table_factory)
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult
from harness.models.factorization import MatrixFactorization
from harness.params import as_table
from harness.study import Loaders, Study, Variant, ratio, relative_to_baseline, run_study, splits_loaders
from harness.train.trainer import TrainConfig
from papers.md_embeddings.params import Params, Task

CF_KEYS = ("user_id", "item_id")


def parse_model(name: str) -> tuple[str, float, float]:
    """``uniform_<d>`` -> ("uniform", d, 0); ``md_<alpha>_<f>x`` -> ("md", alpha, f)."""
    parts = name.split("_")
    try:
        if parts[0] == "uniform" and len(parts) == 2:
            return "uniform", float(int(parts[1])), 0.0
        if parts[0] == "md" and len(parts) == 3 and parts[2].endswith("x"):
            return "md", float(parts[1]), float(parts[2][:-1])
    except ValueError:
        pass
    raise ConfigError(f"md-embeddings: model {name!r} is neither uniform_<dim> nor md_<alpha>_<factor>x")


def ctr_dims(sizes: dict[str, int], alpha: float, factor: float, base: int) -> dict[int, int]:
    """Per-table widths (by row count) fitting ``1/factor`` of the uniform-``base`` parameters."""
    rows = sorted(set(sizes.values()))
    counts = [sum(1 for n in sizes.values() if n == r) for r in rows]
    budget = sum(r * c for r, c in zip(rows, counts)) * base / factor
    dims = alpha_power_dims([1.0 / r for r in rows], alpha, rows=[r * c for r, c in zip(rows, counts)],
                            budget=budget, max_dim=base)
    return dict(zip(rows, dims))


@dataclass(frozen=True)
class TaskData:
    """One task's splits for one seed and, for CF, each table's id counts in the training split."""

    splits: Splits
    counts: dict[str, torch.Tensor] = field(default_factory=dict)


def build_ctr(name: str, task: Task) -> Callable[[TaskData], nn.Module]:
    """A DLRM maker for a CTR model name."""
    kind, first, factor = parse_model(name)
    base = task.base_dim
    if kind == "uniform":
        dim = int(first)
        return lambda data: build_dlrm(data.splits.table_sizes, dim, [*task.bottom, dim], list(task.top),
                                             table_factory("full", {}))

    def build(data: TaskData) -> nn.Module:
        make = table_factory("md", {"dims": ctr_dims(data.splits.table_sizes, first, factor, base), "threshold": 0})
        return build_dlrm(data.splits.table_sizes, base, [*task.bottom, base], list(task.top), make)

    return build


def cf_table(name: str, rows: int, counts: torch.Tensor, task: Task) -> nn.Module:
    """One MF table: plain at width ``d`` (uniform) or frequency blocks with alpha-rule widths (md)."""
    kind, first, factor = parse_model(name)
    base = task.base_dim
    if kind == "uniform":
        block_of_row, dims = torch.zeros(rows, dtype=torch.long), [int(first)]
        return MixedDimEmbeddingBag(block_of_row, dims, base_dim=int(first))
    block_of_row, popularity = frequency_blocks(counts, task.blocks)
    block_rows = [int((block_of_row == b).sum()) for b in range(len(popularity))]
    dims = alpha_power_dims(popularity.tolist(), first, rows=block_rows, budget=rows * base / factor, max_dim=base)
    return MixedDimEmbeddingBag(block_of_row, dims, base_dim=base)


def cf_width(name: str, task: Task) -> int:
    """The width MF's dot product works at: ``d`` for uniform_<d>, the base width for md (projected)."""
    kind, first, _ = parse_model(name)
    return int(first) if kind == "uniform" else task.base_dim


def build_cf(name: str, task: Task) -> Callable[[TaskData], nn.Module]:
    """A matrix-factorization maker for a CF model name (tables cut by the split's id counts)."""
    def build(data: TaskData) -> nn.Module:
        sizes, width = data.splits.table_sizes, cf_width(name, task)
        tables = {k: cf_table(name, sizes[k], data.counts[k], task) for k in CF_KEYS}
        return MatrixFactorization(TableCollection(tables, {k: width for k in CF_KEYS}), sizes["user_id"],
                                   sizes["item_id"], global_bias=task.mean_rating)
    return build


def task_variants(task: Task) -> dict[str, Variant]:
    """``<task>_<model>`` for every model of `task`: DLRM trained on BCE (ctr) or MF on MSE with Adam (cf)."""
    if task.kind == "ctr":
        config = ctr_train_config(task.epochs, task.lr, task.optimizer, task.max_steps)
        return {f"{task.name}_{m}": ctr_variant(f"DLRM with {m} tables", build_ctr(m, task), config,
                                                {"task": task.kind, "rule": parse_model(m)}, source=task.name)
                for m in task.models}
    config = TrainConfig(epochs=task.epochs, lr=task.lr, optimizer="adam", loss="mse")
    return {f"{task.name}_{m}": Variant(f"matrix factorization with {m} tables", build=build_cf(m, task),
                                        train=config, source=task.name,
                                        measure=lambda trained: front_end_sizes(trained.model),
                                        settings={"task": task.kind, "rule": parse_model(m)},
                                        config={"task": "cf", "width": cf_width(m, task)})
            for m in task.models}


def task_data(ctx: ExperimentContext, task: Task, seed: int) -> TaskData:
    """The task's splits for `seed`; for CF also the id counts the frequency blocks are cut by."""
    splits = profile_splits(ctx.data_dir, ctx.work_dir, as_table(task), seed)
    return TaskData(splits, id_counts(splits.train, splits.table_sizes) if task.kind == "cf" else {})


def study(ctx: ExperimentContext) -> Study:
    """Every task's variants, each on its own data."""
    p: Params = ctx.params
    tasks = {task.name: task for task in p.tasks}

    def loaders(data: TaskData, seed: int) -> Loaders:
        return splits_loaders(data.splits, seed)

    return Study(variants={name: v for task in p.tasks for name, v in task_variants(task).items()},
                 data=lambda source, seed: task_data(ctx, tasks[source], seed), loaders=loaders)


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Every task of the profile; ``params_vs_base`` against each task's ``uniform_<base_dim>`` model."""
    p: Params = ctx.params
    result = run_study(ctx, study)
    base_of = {f"{t.name}_{m}": f"{t.name}_uniform_{t.base_dim}" for t in p.tasks for m in t.models}
    relative_to_baseline(result.runs, base_of.get, {"params_vs_base": ("embedding_params", ratio)})
    manifests: dict[str, Any] = {task.name: result.first_data(task.name).splits.manifest for task in p.tasks}
    notes = ["Widths follow the alpha power rule fitted to a parameter budget (1/f of the uniform base-width "
             "tables), rounded to integers, capped at the base width; narrower blocks are projected to the base "
             "width by bias-free linear maps (counted in the parameters)."]
    for task in p.tasks:
        notes.append(f"{task.name}: {task.dataset} {manifests[task.name].get('splits')}, models "
                     f"{list(task.models)}, base width {task.base_dim}, batch {task.batch_size}, "
                     f"{task.epochs} epochs, lr {task.lr} (best validation epoch).")
    return ExperimentResult(runs=result.runs, dataset=manifests, protocol_notes=notes, models=result.models)
