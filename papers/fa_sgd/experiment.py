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

import dataclasses
import functools
from dataclasses import dataclass

import torch
from torch import nn

from harness.data.api import Splits
from harness.data.profile import profile_splits
from harness.embeddings.collection import TableCollection
from harness.embeddings.memory import optimizer_state_nbytes
from harness.embeddings.study import build_dlrm, id_counts, table_collection, table_factory
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.models.factorization import MatrixFactorization
from harness.optim.fa_sgd import COUNTER, FrequencyAwareSGD
from harness.params import as_table
from harness.study import Loaders, Study, Trained, Variant, check_tuning_seed, run_study, splits_loaders
from harness.train.optim import Optimizers, make_dense_optimizer
from harness.train.trainer import TrainConfig
from papers.fa_sgd.params import Params, Task

METHODS = ("sgd", "fa_sgd", "cf_sgd", "adagrad", "adam")


@dataclass(frozen=True)
class TaskData:
    """One task's splits for one seed and the row frequencies of its tables (from the first seed's training split)."""

    splits: Splits
    frequencies: dict[str, torch.Tensor]


def build_model(task: Task, splits: Splits) -> nn.Module:
    """The task's model over the split's features: MF of user and item tables, or DLRM."""
    make = table_factory("full", {})
    if task.model == "mf":
        keys = ["user_id", "item_id"]
        sizes = splits.table_sizes
        collection = TableCollection({k: make(sizes[k], task.dim) for k in keys}, {k: task.dim for k in keys})
        return MatrixFactorization(collection, sizes["user_id"], sizes["item_id"])
    if task.model == "dlrm":
        return build_dlrm(splits.table_sizes, task.dim, list(task.bottom), list(task.top), make)
    raise ConfigError(f"fa-sgd: task model must be 'mf' or 'dlrm', got {task.model!r}")


def row_tables(task: Task, model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The model's row-indexed tables by feature key (MF: each key's embedding and bias tables)."""
    collection = table_collection(model) if task.model == "dlrm" else model.get_submodule("sparse")
    assert isinstance(collection, TableCollection)
    tables = {k: [table.get_parameter("weight")] for k, table in collection.tables.items()}
    if task.model == "mf":
        tables["user_id"].append(model.get_parameter("user_bias.weight"))
        tables["item_id"].append(model.get_parameter("item_bias.weight"))
    return tables


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
                    frequencies: dict[str, torch.Tensor], task: Task) -> Optimizers:
    """Tables by `method`; the other parameters by the task's ``dense_optimizer`` at ``dense_lr`` if
    given (the same for every method, isolating the embedding optimizer), else by the method's own
    dense counterpart (SGD for the SGD family) at `lr`."""
    table_ids = {id(p) for params in tables.values() for p in params}
    dense = [p for p in model.parameters() if id(p) not in table_ids]
    if task.dense_optimizer is not None:
        dense_opt = make_dense_optimizer(dense, task.dense_optimizer, float(task.dense_lr))  # type: ignore[arg-type]
    else:
        dense_opt = make_dense_optimizer(dense, method if method in ("adagrad", "adam") else "sgd", lr)
    return Optimizers(dense=dense_opt, sparse=[table_optimizer(method, lr, tables, frequencies)])


def trial_name(task: Task, method: str, lr: float) -> str:
    """The variant of one (task, method, learning rate): ``<task>_<method>_lr<lr>``."""
    return f"{task.name}_{method}_lr{lr:g}"


def method_variant(task: Task, method: str, lr: float, device: str) -> Variant:
    """`method` at `lr` on `task`: tables by the method, trained with BCE; optimizer bytes measured."""
    def optimizers(model: nn.Module, data: TaskData) -> Optimizers:
        model.to(device)  # the optimizers' per-row state lives on the tables' device
        return make_optimizers(method, lr, model, row_tables(task, model), data.frequencies, task)

    def measure(trained: Trained) -> dict[str, float]:
        assert trained.optimizers is not None
        return {"optimizer_bytes": float(optimizer_state_nbytes(trained.optimizers.sparse[0])), "lr": lr}

    recorded = {k: v for k, v in as_table(task).items() if k != "lrs"}
    return Variant(f"{task.model} on {task.dataset}, tables by {method} at lr {lr:g}",
                   build=lambda data: build_model(task, data.splits), train=TrainConfig(epochs=task.epochs, lr=lr),
                   source=task.name, optimizers=optimizers, measure=measure,
                   settings={"task": task.name, "method": method}, config={"method": method, "lr": lr, **recorded})


def study(ctx: ExperimentContext) -> Study:
    """One variant per (task, method, learning rate of its grid), each task on its own data."""
    p: Params = ctx.params
    tasks = {task.name: task for task in p.tasks}
    for task in p.tasks:
        unknown = [m for m in task.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"fa-sgd: unknown method(s) {unknown}; known: {', '.join(METHODS)}")
        if task.dense_optimizer is not None and task.dense_lr is None:
            raise ConfigError(f"fa-sgd: task {task.name!r} sets dense_optimizer but not dense_lr")
        missing = [m for m in task.methods if m not in task.lrs]
        if missing:
            raise ConfigError(f"fa-sgd: task {task.name!r} has no lr grid (lrs) for method(s) {missing}")

    @functools.cache
    def frequencies(source: str) -> dict[str, torch.Tensor]:
        splits = profile_splits(ctx.data_dir, ctx.work_dir, as_table(tasks[source]), ctx.seeds[0])
        counts = id_counts(splits.train, splits.table_sizes)
        return {k: (c / c.sum()).float() for k, c in counts.items()}

    def data(source: str, seed: int) -> TaskData:
        splits = profile_splits(ctx.data_dir, ctx.work_dir, as_table(tasks[source]), seed)
        return TaskData(splits, frequencies(source))

    def loaders(data: TaskData, seed: int) -> Loaders:
        return splits_loaders(data.splits, seed)

    variants = {trial_name(task, method, float(lr)): method_variant(task, method, float(lr), ctx.device)
                for task in p.tasks for method in task.methods for lr in task.lrs[method]}
    return Study(variants=variants, data=data, loaders=loaders)


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Each method's lr is picked by validation AUC on the tuning seed, then every evaluated seed trains with it.

    The tuning seed lies outside the evaluated seeds: no evaluated run is the one its lr was selected on.
    """
    p: Params = ctx.params
    first = p.tuning_seed
    check_tuning_seed(first, ctx.seeds, "fa-sgd: tuning_seed", " (--set tuning_seed=...)")
    design = study(ctx)
    tuning = run_study(ctx, study, jobs=[(name, first) for name in design.variants], study=design)
    chosen: dict[str, SeedRun] = {}
    for task in p.tasks:
        for method in task.methods:
            trials = [r for r in tuning.runs if r.model in {trial_name(task, method, float(lr)) for lr in task.lrs[method]}]
            best = max(trials, key=lambda r: r.metrics["val_auc"])
            ctx.progress.log(f"{task.name}_{method}: lr {best.metrics['lr']:g} chosen by validation AUC on seed {first}")
            chosen[f"{task.name}_{method}"] = best
    evaluated = run_study(ctx, study, jobs=[(best.model, seed) for best in chosen.values() for seed in ctx.seeds],
                          study=design)
    method_of = {best.model: name for name, best in chosen.items()}
    runs = [dataclasses.replace(r, model=method_of[r.model]) for r in evaluated.runs]
    notes = ["The paper's exact step-size rule was not available: FA-SGD uses lr * min(sqrt(p_max / p_k), max_scale) "
             "per row (FBGEMM's counter-SGD exponent), CF-SGD the same with p_k from a per-row counter of steps.",
             f"Per method, the learning rate is chosen from its grid by validation AUC on tuning seed {first}, "
             f"outside the evaluated seeds {list(ctx.seeds)}; every evaluated seed trains with it (no evaluated "
             "run is its own selection run)."]
    manifests = {task.name: tuning.first_data(task.name).splits.manifest for task in p.tasks}
    for task in p.tasks:
        notes.append(f"{task.name}: {task.dataset} {manifests[task.name].get('splits')}, model {task.model} dim "
                     f"{task.dim}, batch {task.batch_size}, {task.epochs} epochs (best validation epoch), lr grids "
                     f"{ {m: list(v) for m, v in task.lrs.items()} }.")
    models = {f"{t.name}_{m}": {"task": t.name, "method": m} for t in p.tasks for m in t.methods}
    return ExperimentResult(runs=runs, dataset=manifests, protocol_notes=notes, models=models)
