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

from typing import Any, Callable

import torch
from torch import nn

from harness.data.api import Splits
from harness.embeddings.collection import TableCollection
from harness.embeddings.memory import module_nbytes, parameter_count
from harness.embeddings.mixed_dim import MixedDimEmbeddingBag, alpha_power_dims, frequency_blocks
from harness.data.profile import profile_splits
from harness.embeddings.study import dlrm_with_tables, id_counts, table_factory, train_ctr
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.models.factorization import MatrixFactorization
from harness.train.trainer import TrainConfig, fit, seed_everything

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


def build_ctr(name: str, task: dict[str, Any], splits: Splits) -> Callable[[], nn.Module]:
    """A DLRM maker for a CTR model name."""
    kind, first, factor = parse_model(name)
    base = int(task["base_dim"])
    if kind == "uniform":
        dim = int(first)
        bottom = [*task["bottom"], dim]
        return lambda: dlrm_with_tables(splits.table_sizes, dim, bottom, task["top"], table_factory("full", {}))
    make = table_factory("md", {"dims": ctr_dims(splits.table_sizes, first, factor, base), "threshold": 0})
    return lambda: dlrm_with_tables(splits.table_sizes, base, [*task["bottom"], base], task["top"], make)


def cf_table(name: str, rows: int, counts: torch.Tensor, task: dict[str, Any]) -> nn.Module:
    """One MF table: plain at width ``d`` (uniform) or frequency blocks with alpha-rule widths (md)."""
    kind, first, factor = parse_model(name)
    base = int(task["base_dim"])
    if kind == "uniform":
        block_of_row, dims = torch.zeros(rows, dtype=torch.long), [int(first)]
        return MixedDimEmbeddingBag(block_of_row, dims, base_dim=int(first))
    block_of_row, popularity = frequency_blocks(counts, int(task["blocks"]))
    block_rows = [int((block_of_row == b).sum()) for b in range(len(popularity))]
    dims = alpha_power_dims(popularity.tolist(), first, rows=block_rows, budget=rows * base / factor, max_dim=base)
    return MixedDimEmbeddingBag(block_of_row, dims, base_dim=base)


def train_cf(name: str, seed: int, task: dict[str, Any], splits: Splits, counts: dict[str, torch.Tensor],
             ctx: ExperimentContext) -> SeedRun:
    """Train one MF model on explicit ratings with Adam and MSE; record MSE/RMSE and sizes."""
    seed_everything(seed)
    kind, first, _ = parse_model(name)
    width = int(first) if kind == "uniform" else int(task["base_dim"])
    tables = {k: cf_table(name, splits.table_sizes[k], counts[k], task) for k in CF_KEYS}
    mean_rating = float(task.get("mean_rating", 3.5))
    model = MatrixFactorization(TableCollection(tables, {k: width for k in CF_KEYS}), splits.table_sizes["user_id"],
                                splits.table_sizes["item_id"], global_bias=mean_rating)
    config = TrainConfig(epochs=int(task["epochs"]), lr=float(task["lr"]), optimizer="adam", loss="mse")
    label = f"{task['name']}_{name}"
    ctx.progress.start_job(label, seed, config.epochs)
    result = fit(model, splits.train, {"val": splits.val, "test": splits.test}, [""], config, ctx.device,
                 ctx.progress)
    ctx.progress.end_job()
    metrics = dict(result.metrics, embedding_params=float(parameter_count(model.sparse)),
                   embedding_bytes=float(module_nbytes(model.sparse)))
    return SeedRun(model=label, seed=seed, metrics=metrics, curve=result.curve, wall_time_s=result.wall_time_s,
                   examples_per_s=result.examples_per_s, config={"task": "cf", "width": width})


def run_task(task: dict[str, Any], ctx: ExperimentContext) -> tuple[list[SeedRun], dict[str, Any]]:
    """All models of one task for every seed."""
    runs: list[SeedRun] = []
    manifest: dict[str, Any] = {}
    for seed in ctx.seeds:
        splits = profile_splits(ctx.data_dir, ctx.work_dir, task, seed)
        manifest = splits.manifest
        counts = id_counts(splits.train, splits.table_sizes) if task["kind"] == "cf" else {}
        for name in task["models"]:
            if task["kind"] == "ctr":
                _, result = train_ctr(f"{task['name']}_{name}", seed, build_ctr(name, task, splits), splits, task,
                                      ctx.progress)
            else:
                result = train_cf(name, seed, task, splits, counts, ctx)
            runs.append(result)
    base = f"{task['name']}_uniform_{task['base_dim']}"
    base_params = {r.seed: r.metrics["embedding_params"] for r in runs if r.model == base}
    for r in runs:
        if r.seed in base_params:
            r.metrics["params_vs_base"] = r.metrics["embedding_params"] / base_params[r.seed]
    return runs, manifest


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Every task of the profile."""
    runs: list[SeedRun] = []
    manifests: dict[str, Any] = {}
    notes = ["Widths follow the alpha power rule fitted to a parameter budget (1/f of the uniform base-width "
             "tables), rounded to integers, capped at the base width; narrower blocks are projected to the base "
             "width by bias-free linear maps (counted in the parameters)."]
    for task in ctx.params["tasks"]:
        task_runs, manifests[task["name"]] = run_task(task, ctx)
        runs += task_runs
        notes.append(f"{task['name']}: {task['dataset']} {manifests[task['name']].get('splits')}, models "
                     f"{task['models']}, base width {task['base_dim']}, batch {task['batch_size']}, "
                     f"{task['epochs']} epochs, lr {task['lr']} (best validation epoch).")
    models = {f"{t['name']}_{m}": {"task": t["kind"], "rule": parse_model(m)} for t in ctx.params["tasks"]
              for m in t["models"]}
    return ExperimentResult(runs=runs, dataset=manifests, protocol_notes=notes, models=models)
