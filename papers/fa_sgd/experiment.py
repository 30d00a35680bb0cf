"""FA-SGD and CF-SGD against SGD, Adagrad and Adam on embedding-dominated models (Li et al. 2022).

Two tasks, one per entry of ``params["tasks"]``: matrix factorization on MovieLens (CTR protocol,
rating >= 4) and DLRM on Criteo. The embedding tables (and MF's per-row bias tables) are trained
by the method under test; the remaining dense parameters by the task's ``dense_optimizer`` (the
same for every method) or, without one, by plain SGD for the SGD family and by the same adaptive
method otherwise (our choice; the paper's split is unverified). Each method's learning rate is
picked from its grid by validation AUC on the first seed (an equal tuning budget per method),
then every seed is trained with it. Training is the shared trainer's (BCE, evaluation after each
epoch, best validation AUC) with the method's optimizers passed in prebuilt. Optimizer memory is
measured from the table optimizer's state tensors.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from harness.data.api import Splits
from harness.embeddings.collection import TableCollection
from harness.embeddings.memory import optimizer_state_nbytes
from harness.data.profile import profile_splits
from harness.embeddings.study import dlrm_with_tables, id_counts, table_factory
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.models.factorization import MatrixFactorization
from harness.optim.fa_sgd import COUNTER, FrequencyAwareSGD
from harness.train.optim import Optimizers, make_dense_optimizer
from harness.train.trainer import TrainConfig, fit, seed_everything

METHODS = ("sgd", "fa_sgd", "cf_sgd", "adagrad", "adam")


def build_model(task: dict[str, Any], splits: Splits) -> tuple[nn.Module, dict[str, nn.Parameter]]:
    """The task's model and its row-indexed tables by feature key (MF: embedding and bias tables)."""
    make = table_factory("full", {})
    dim = int(task["dim"])
    if task["model"] == "mf":
        keys = ["user_id", "item_id"]
        sizes = splits.table_sizes
        collection = TableCollection({k: make(sizes[k], dim) for k in keys}, {k: dim for k in keys})
        model = MatrixFactorization(collection, sizes["user_id"], sizes["item_id"])
        tables = {k: [collection.tables[k].weight] for k in keys}
        tables["user_id"].append(model.user_bias.weight)
        tables["item_id"].append(model.item_bias.weight)
        return model, tables
    if task["model"] == "dlrm":
        model = dlrm_with_tables(splits.table_sizes, dim, task["bottom"], task["top"], make)
        collection = model.sparse.collection
        return model, {k: [collection.tables[k].weight] for k in splits.table_sizes}
    raise ConfigError(f"fa-sgd: task model must be 'mf' or 'dlrm', got {task['model']!r}")


def table_optimizer(method: str, lr: float, tables: dict[str, list[nn.Parameter]],
                    frequencies: dict[str, torch.Tensor]) -> torch.optim.Optimizer:
    """The optimizer of `method` over the row-indexed tables only."""
    every = [p for params in tables.values() for p in params]
    if method == "adagrad":
        return torch.optim.Adagrad(every, lr=lr)
    if method == "adam":
        return torch.optim.Adam(every, lr=lr)
    if method == "sgd":
        return FrequencyAwareSGD(every, lr=lr)
    if method == "fa_sgd":
        return FrequencyAwareSGD([{"params": params, "frequency": frequencies[key]} for key, params in tables.items()],
                                 lr=lr)
    if method == "cf_sgd":
        return FrequencyAwareSGD([{"params": params, "frequency": COUNTER} for params in tables.values()], lr=lr)
    raise ConfigError(f"fa-sgd: unknown method {method!r}; known: {', '.join(METHODS)}")


def make_optimizers(method: str, lr: float, model: nn.Module, tables: dict[str, list[nn.Parameter]],
                    frequencies: dict[str, torch.Tensor], task: dict[str, Any]) -> Optimizers:
    """Tables by `method`; the other parameters by ``task["dense_optimizer"]`` at ``task["dense_lr"]`` if
    given (the same for every method, isolating the embedding optimizer), else by the method's own
    dense counterpart (SGD for the SGD family) at `lr`."""
    table_ids = {id(p) for params in tables.values() for p in params}
    dense = [p for p in model.parameters() if id(p) not in table_ids]
    if "dense_optimizer" in task:
        dense_opt = make_dense_optimizer(dense, str(task["dense_optimizer"]), float(task["dense_lr"]))
    else:
        dense_opt = make_dense_optimizer(dense, method if method in ("adagrad", "adam") else "sgd", lr)
    return Optimizers(dense=dense_opt, sparse=[table_optimizer(method, lr, tables, frequencies)])


def train_one(name: str, method: str, lr: float, seed: int, task: dict[str, Any], splits: Splits,
              frequencies: dict[str, torch.Tensor], ctx: ExperimentContext) -> SeedRun:
    """Seed, build and train one (task, method, lr); record AUC/logloss and optimizer bytes."""
    seed_everything(seed)
    model, tables = build_model(task, splits)
    model.to(ctx.device)  # the optimizers' per-row state lives on the tables' device
    optimizers = make_optimizers(method, lr, model, tables, frequencies, task)
    config = TrainConfig(epochs=int(task["epochs"]), lr=lr)
    ctx.progress.start_job(name, seed, config.epochs)
    result = fit(model, splits.train, {"val": splits.val, "test": splits.test}, [""], config, ctx.device,
                 ctx.progress, optimizers=optimizers)
    ctx.progress.end_job()
    metrics = dict(result.metrics, optimizer_bytes=float(optimizer_state_nbytes(optimizers.sparse[0])), lr=lr)
    return SeedRun(model=name, seed=seed, metrics=metrics, curve=result.curve,
                   wall_time_s=result.wall_time_s, examples_per_s=result.examples_per_s,
                   config={"method": method, "lr": lr, **{k: v for k, v in task.items() if k != "lrs"}})


def run_task(task: dict[str, Any], ctx: ExperimentContext, on_run: Callable[[SeedRun], None]) -> dict[str, Any]:
    """Tune each method's lr on the first seed, then train every seed; returns the dataset manifest."""
    splits_by_seed = {seed: profile_splits(ctx.data_dir, ctx.work_dir, task, seed) for seed in ctx.seeds}
    first = ctx.seeds[0]
    counts = id_counts(splits_by_seed[first].train, splits_by_seed[first].table_sizes)
    frequencies = {k: (c / c.sum()).float() for k, c in counts.items()}
    for method in task["methods"]:
        name = f"{task['name']}_{method}"
        trials = [train_one(name, method, float(lr), first, task, splits_by_seed[first], frequencies, ctx)
                  for lr in task["lrs"][method]]
        best = max(trials, key=lambda r: r.metrics["val_auc"])
        ctx.progress.log(f"{name}: lr {best.metrics['lr']:g} chosen by validation AUC on seed {first}")
        on_run(best)
        for seed in ctx.seeds[1:]:
            on_run(train_one(name, method, best.metrics["lr"], seed, task, splits_by_seed[seed], frequencies, ctx))
    return splits_by_seed[first].manifest


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Every task of the profile, every method, every seed."""
    runs: list[SeedRun] = []
    manifests = {task["name"]: run_task(task, ctx, runs.append) for task in ctx.params["tasks"]}
    notes = ["The paper's exact step-size rule was not available: FA-SGD uses lr * min(sqrt(p_max / p_k), max_scale) "
             "per row (FBGEMM's counter-SGD exponent), CF-SGD the same with p_k from a per-row counter of steps.",
             "Per method, the learning rate is chosen from its grid by validation AUC on the first seed."]
    for task in ctx.params["tasks"]:
        split = manifests[task["name"]].get("splits")
        notes.append(f"{task['name']}: {task['dataset']} {split}, model {task['model']} dim {task['dim']}, "
                     f"batch {task['batch_size']}, {task['epochs']} epochs (best validation epoch), lr grids {task['lrs']}.")
    models = {f"{t['name']}_{m}": {"task": t["name"], "method": m} for t in ctx.params["tasks"] for m in t["methods"]}
    return ExperimentResult(runs=runs, dataset=manifests, protocol_notes=notes, models=models)
