"""The study loop every paper shares: its variants x seeds, trained, measured and recorded one way.

A paper declares *what* it compares, :class:`Variant` by name (a one-line description, how to build
the model from the data, the training recipe, and any variant-specific measurement), and *where
the data comes from*; :func:`run_study` does the rest, the same for every paper:

* every (variant, seed) job seeds itself (:func:`~harness.train.trainer.seed_everything`), builds
  its model, trains it with :func:`~harness.train.trainer.fit` and assembles its :class:`SeedRun`;
* ``--jobs N`` runs the jobs side by side in worker processes (:mod:`harness.parallel`); each job
  seeds itself, so the metrics are bitwise those of one process;
* each job checkpoints under ``ctx.work_dir/jobs/<variant>-seed<seed>`` and records its runs there
  when done (``job.json``), so ``repro run --resume`` skips finished jobs and continues an
  interrupted one exactly;
* under torchrun (``--nproc N``) the data is prepared by rank 0 first, every model is sharded by
  TorchRec's planner (:func:`~harness.train.distributed.shard_model`, the plan goes into the
  run's model description) and every rank trains on its slice of each global batch;
* ``wall_time_s`` of a trained run is the training loop's time with its evaluations
  (:attr:`FitResult.wall_time_s`, summed over resumes); of a derived run (a variant computed from
  a trained model without training, e.g. its quantized tables) the derivation and its evaluation.

Quantities relative to a baseline variant (``bytes_vs_full``, ``params_vs_base``) come from
:func:`relative_to_baseline`.

The study is rebuilt in each worker from the paper's module-level ``study(ctx)`` function (workers
import it by name), so variants may hold lambdas and the data never travels between processes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import torch
from torch import nn

from harness.atomic import write_json
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, NullProgress, Progress, SeedRun
from harness.parallel import run_jobs
from harness.train.distributed import RankShard, World, init_from_env, main_first, plan_as_dict, shard_model
from harness.train.optim import Optimizers
from harness.train.trainer import BatchSource, FitResult, TrainConfig, describe, fit, seed_everything

Loaders = tuple[BatchSource, dict[str, BatchSource]]
V = TypeVar("V")
JOB_FILE = "job.json"


@dataclass(frozen=True)
class Trained:
    """A trained job, as a variant's `measure` sees it: the model, its data, the trainer's result, and
    the optimizers the variant built (None when the recipe's were used)."""

    model: nn.Module
    data: Any
    result: FitResult
    optimizers: Optimizers | None = None


@dataclass(frozen=True)
class Variant:
    """One named model of a study: what it is and how to build, train and measure it.

    `build` makes the model from the data of its `source` (called right after seeding, so a
    variant's initial weights depend only on the seed). `train` is the recipe. `optimizers`, if
    set, builds the optimizers the trainer uses instead of the recipe's (a paper whose method is an
    optimizer). `measure` adds metrics measured on the trained model (sizes, timings, a re-evaluation).
    `settings` go into the run record's model description, `config` into each run's config.

    A *derived* variant names the trained variant it comes from in `derived_from` and has `derive`
    instead of `build`: it turns that variant's trained model (same seed, same job) into its metrics,
    without training (post-training quantization).
    """

    description: str
    build: Callable[[Any], nn.Module] | None = None
    train: TrainConfig | None = None
    source: str = ""
    optimizers: Callable[[nn.Module, Any], Optimizers] | None = None
    measure: Callable[[Trained], dict[str, float]] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    derived_from: str | None = None
    derive: Callable[[nn.Module, Any, SeedRun], tuple[dict[str, float], nn.Module]] | None = None

    def __post_init__(self) -> None:
        trained = self.build is not None and self.train is not None
        derived = self.derived_from is not None and self.derive is not None
        if trained == derived:
            raise ValueError(f"variant {self.description!r}: give either build and train, or derived_from and derive")


def splits_loaders(data: Any, seed: int) -> Loaders:
    """The training and evaluation batches of a :class:`~harness.data.api.Splits` (the default)."""
    return data.train, {"val": data.val, "test": data.test}


@dataclass(frozen=True)
class Study:
    """A paper's study: its variants by name, its data, and how batches are cut from it.

    `data(source, seed)` returns what the variants of `source` train on for `seed` (a
    :class:`~harness.data.api.Splits`, or the paper's own object); it is called once per
    (source, seed) and process. `loaders(data, seed)` gives the training and evaluation batches of
    one job (fresh per job when they carry state, e.g. a shuffling generator). `tasks` names the
    model's outputs (``[""]`` for one).
    """

    variants: Mapping[str, Variant]
    data: Callable[[str, int], Any]
    loaders: Callable[[Any, int], Loaders] = splits_loaders
    tasks: tuple[str, ...] = ("",)


StudyDesign = Callable[[ExperimentContext], Study]


@dataclass
class StudyResult:
    """The runs of a study (trained and derived), the model descriptions, and the data used."""

    runs: list[SeedRun]
    models: dict[str, dict[str, Any]]
    data: dict[tuple[str, int], Any]

    def first_data(self, source: str = "") -> Any:
        """The data of `source` for the first seed that used it (its manifest describes the dataset)."""
        return next(d for (s, _), d in self.data.items() if s == source)


class _Shared:
    """What every job reads: the paper's design and context; the study and data built once per process."""

    def __init__(self, design: StudyDesign, ctx: ExperimentContext, world: World | None = None) -> None:
        self.design, self.ctx = design, ctx
        self.world = world or World(0, 1, torch.device(ctx.device))
        self._study: Study | None = None
        self._data: dict[tuple[str, int], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"design": self.design, "ctx": self.ctx}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["design"], state["ctx"])  # type: ignore[misc]

    def study(self) -> Study:
        if self._study is None:
            self._study = self.design(self.ctx)
        return self._study

    def data(self, source: str, seed: int) -> Any:
        if (source, seed) not in self._data:
            self._data[source, seed] = self.study().data(source, seed)
        return self._data[source, seed]


@dataclass
class _Outcome:
    runs: list[SeedRun]
    models: dict[str, dict[str, Any]]


def _job_dir(ctx: ExperimentContext, name: str, seed: int) -> Path:
    return ctx.work_dir / "jobs" / f"{name}-seed{seed}"


def _finished(folder: Path) -> _Outcome | None:
    """The outcome of a job finished by an earlier attempt of this run (``--resume``), if any.

    A job records its outcome (``job.json``) only once everything is measured. A trainer's
    result without it (killed after training, before measuring) is dropped, so that the job trains
    again (deterministically) instead of measuring an untrained model.
    """
    path = folder / JOB_FILE
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        return _Outcome([SeedRun(**run) for run in saved["runs"]], saved["models"])
    (folder / "result.json").unlink(missing_ok=True)
    return None


def _run_job(shared: _Shared, job: tuple[str, int], progress: Progress) -> _Outcome:
    """Seed, build, (shard,) train and measure variant ``job[0]`` for seed ``job[1]``, then its derived variants."""
    name, seed = job
    study, ctx, world = shared.study(), shared.ctx, shared.world
    folder = _job_dir(ctx, name, seed)
    done = _finished(folder)
    if done is not None:
        progress.log(f"{name} seed {seed}: finished before, reusing its runs")
        return done
    variant = study.variants[name]
    assert variant.build is not None and variant.train is not None
    data = shared.data(variant.source, seed)
    seed_everything(seed)
    model = variant.build(data)
    models = {name: {"description": variant.description, **describe(model), **variant.settings}}
    train, evals = study.loaders(data, seed)
    optimizers = variant.optimizers(model, data) if variant.optimizers else None
    if world.size > 1:
        model, plan = shard_model(model, variant.train.sparse_spec(), world,  # type: ignore[arg-type]
                                  batch_size=getattr(train, "batch_size", None))
        models[name]["sharding_plan"] = plan_as_dict(plan)
        train, evals = RankShard(train, world), {k: RankShard(v, world) for k, v in evals.items()}
    progress.start_job(name, seed, variant.train.epochs)
    result = fit(model, train, evals, list(study.tasks), variant.train, world.device, progress,
                 checkpoint_dir=folder, optimizers=optimizers)
    progress.end_job()
    metrics = dict(result.metrics)
    if variant.measure:
        metrics.update(variant.measure(Trained(model, data, result, optimizers)))
    run = SeedRun(model=name, seed=seed, metrics=metrics, curve=result.curve, wall_time_s=result.wall_time_s,
                  examples_per_s=result.examples_per_s, config={**variant.config, "world_size": world.size})
    runs = [run]
    for derived_name, derived in study.variants.items():
        if derived.derived_from != name:
            continue
        assert derived.derive is not None
        started = time.perf_counter()
        derived_metrics, derived_model = derived.derive(model, data, run)
        runs.append(SeedRun(model=derived_name, seed=seed, metrics=derived_metrics,
                            wall_time_s=time.perf_counter() - started, config=dict(derived.config)))
        models[derived_name] = {"description": derived.description, **describe(derived_model), **derived.settings}
    if world.is_main:
        write_json(folder / JOB_FILE, {"runs": [dataclasses.asdict(r) for r in runs], "models": models})
    return _Outcome(runs, models)


def _summarize(job: tuple[str, int], outcome: _Outcome) -> str:
    """One line per finished job when jobs run in parallel."""
    run = outcome.runs[0]
    return f"{job[0]} seed {job[1]}: {run.examples_per_s:,.0f} examples/s, {run.wall_time_s:.1f} s"


def run_study(ctx: ExperimentContext, design: StudyDesign, jobs: Iterable[tuple[str, int]] | None = None,
              study: Study | None = None) -> StudyResult:
    """Train every trained variant of ``design(ctx)`` for every seed of `ctx` (or the given `jobs`).

    `design` must be a module-level function (worker processes import it by name and call it on
    a copy of `ctx` without its progress sink); `study`, if given, is its result for `ctx`, built
    once by the caller. The data of every (source, seed) is prepared here first (rank 0 first
    under torchrun), then the jobs run on ``ctx.jobs`` processes. Runs come back in job order,
    each followed by its derived variants.
    """
    world = init_from_env(ctx.device)
    progress = ctx.progress if world.is_main else NullProgress()
    worker_ctx = dataclasses.replace(ctx, progress=NullProgress())
    shared = _Shared(design, worker_ctx, world)
    shared._study = study or design(worker_ctx)
    variants = shared.study().variants
    trained = [name for name, v in variants.items() if v.derived_from is None]
    job_list = list(jobs) if jobs is not None else [(name, seed) for seed in ctx.seeds for name in trained]
    unknown = sorted({name for name, _ in job_list if name not in trained})
    if unknown:
        raise ValueError(f"run_study: {unknown} are not trained variants of the study; known: {trained}")
    for name, seed in job_list:
        with main_first(world):
            shared.data(variants[name].source, seed)
    workers = ctx.jobs
    if world.size > 1 and workers > 1:
        progress.log(f"--jobs {workers} ignored under torchrun: each model is trained by all {world.size} processes")
        workers = 1
    outcomes = run_jobs(_run_job, shared, job_list, workers, progress, _summarize)
    runs = [run for outcome in outcomes for run in outcome.runs]
    models = {name: description for outcome in outcomes for name, description in outcome.models.items()}
    return StudyResult(runs=runs, models=models, data=dict(shared._data))


def select_variants(variants: Mapping[str, V], names: Iterable[str] | None, where: str) -> dict[str, V]:
    """The `variants` named in `names` (all when None), in that order; a :class:`ConfigError` naming
    `where` and the known names for an unknown one."""
    if names is None:
        return dict(variants)
    chosen = list(names)
    unknown = [name for name in chosen if name not in variants]
    if unknown:
        raise ConfigError(f"{where}: unknown model(s) {', '.join(unknown)}; known: {', '.join(variants)}")
    return {name: variants[name] for name in chosen}


def ratio(value: float, baseline: float) -> float:
    """``value / baseline`` (bytes or parameters against the baseline's)."""
    return value / baseline


def percent_change(value: float, baseline: float) -> float:
    """``100 (value / baseline - 1)``: the relative change in percent."""
    return 100.0 * (value / baseline - 1.0)


def difference(value: float, baseline: float) -> float:
    """``value - baseline``."""
    return value - baseline


def relative_to_baseline(runs: Sequence[SeedRun], baseline_of: Callable[[str], str | None],
                         quantities: Mapping[str, tuple[str, Callable[[float, float], float]]]) -> None:
    """Add to each run the `quantities` relative to its baseline variant's run of the same seed.

    ``quantities = {"bytes_vs_full": ("embedding_bytes", ratio)}`` sets, on every run whose
    ``baseline_of(run.model)`` ran with the same seed, ``bytes_vs_full = ratio(embedding_bytes,
    baseline's embedding_bytes)``. Runs without a baseline (None, or it did not run) get nothing.
    """
    by_key = {(run.model, run.seed): run for run in runs}
    for run in runs:
        name = baseline_of(run.model)
        base = by_key.get((name, run.seed)) if name is not None else None
        if base is None:
            continue
        for quantity, (metric, relation) in quantities.items():
            run.metrics[quantity] = relation(run.metrics[metric], base.metrics[metric])


LR_TRIAL = "@lr"


def check_tuning_seed(seed: int, seeds: Sequence[int], label: str = "tuning seed", hint: str = "") -> None:
    """Refuse a tuning seed that is also evaluated: no evaluated run may be the one its rate was picked on."""
    if seed in seeds:
        raise ConfigError(f"{label} {seed} is one of the evaluated seeds {list(seeds)}; choose a seed outside them"
                          f"{hint} so that no evaluated run picked its own rate")


def lr_trial(name: str, lr: float) -> str:
    """The name of variant `name` trained at learning rate `lr` in a tuning grid: ``<name>@lr<lr>``."""
    return f"{name}{LR_TRIAL}{lr:g}"


def with_lr_grid(variants: Mapping[str, Variant], grid: Sequence[float]) -> dict[str, Variant]:
    """Every trained variant of `variants` at every learning rate of `grid`, named by :func:`lr_trial`.

    A study design returns these so that :func:`run_tuned_study` can train any (variant, lr) pair
    by name, in this process or a ``--jobs`` worker.
    """
    if not grid:
        raise ConfigError("the learning-rate grid is empty; give at least one learning rate")
    expanded: dict[str, Variant] = {}
    for name, variant in variants.items():
        if variant.train is None:
            raise ConfigError(f"variant {name!r} is derived, not trained: it has no learning rate to tune")
        for lr in grid:
            expanded[lr_trial(name, lr)] = dataclasses.replace(
                variant, train=dataclasses.replace(variant.train, lr=lr), config={**variant.config, "lr": lr})
    return expanded


@dataclass(frozen=True)
class LrTuning:
    """An equal tuning budget for every model: each trains once per learning rate of `grid` on the
    tuning `seed` (outside the evaluated seeds), and the one with the best validation `select`
    metric is kept for every evaluated seed.

    `tuned_by` maps a model to another whose chosen rate it takes without a grid of its own (an
    ablation of a tuned model keeps that model's recipe); `fixed` gives a model a rate of the grid
    that is not tuned (a paper's reference recipe, kept as published while the models it is
    compared with get their own rate).
    """

    grid: tuple[float, ...]
    seed: int
    tuned_by: Mapping[str, str] = field(default_factory=dict)
    fixed: Mapping[str, float] = field(default_factory=dict)
    select: str = "val_auc"
    maximize: bool = True


@dataclass
class TunedStudy:
    """The evaluated runs (named by model, with their ``lr`` metric), the rate chosen per model, and the tuning trials."""

    result: StudyResult
    chosen: dict[str, float]
    trials: list[SeedRun]


def run_tuned_study(ctx: ExperimentContext, design: StudyDesign, tuning: LrTuning) -> TunedStudy:
    """Tune each model's learning rate on ``tuning.seed``, then train every model on every seed of `ctx`.

    ``design(ctx)`` must return the variants expanded by :func:`with_lr_grid` over ``tuning.grid``.
    Models without an entry in ``tuning.tuned_by`` or ``tuning.fixed`` are trained at every rate of
    the grid on the tuning seed and keep the rate with the best validation metric (ties: the first
    in grid order); the others take their named model's rate or their fixed one. The evaluated runs come back under the model's
    name with the rate as metric ``lr``; the model descriptions record the rate and the trials'
    validation metric per rate.
    """
    check_tuning_seed(tuning.seed, ctx.seeds)
    study = design(dataclasses.replace(ctx, progress=NullProgress()))
    models = list(dict.fromkeys(name.rpartition(LR_TRIAL)[0] for name in study.variants))
    unknown = sorted(({m for pair in tuning.tuned_by.items() for m in pair} | set(tuning.fixed)) - set(models))
    if unknown:
        raise ConfigError(f"tuned_by / fixed name unknown model(s) {unknown}; known: {', '.join(models)}")
    off_grid = {m: lr for m, lr in tuning.fixed.items() if lr not in tuning.grid}
    if off_grid:
        raise ConfigError(f"fixed learning rates {off_grid} are not in the grid {list(tuning.grid)}; add them to it")
    own = [m for m in models if m not in tuning.tuned_by and m not in tuning.fixed]
    borrowed = [target for target in tuning.tuned_by.values() if target in tuning.tuned_by]
    if borrowed:
        raise ConfigError(f"tuned_by: {sorted(set(borrowed))} take another model's rate themselves; name a tuned model")
    trials = run_study(ctx, design, jobs=[(lr_trial(m, lr), tuning.seed) for m in own for lr in tuning.grid],
                       study=study)
    score: dict[str, dict[float, float]] = {m: {} for m in own}
    for run in trials.runs:
        model = run.model.rpartition(LR_TRIAL)[0]
        score[model][float(run.config["lr"])] = float(run.metrics[tuning.select])
    sign = 1.0 if tuning.maximize else -1.0
    chosen = {m: max(tuning.grid, key=lambda lr: _finite_or_worst(sign * score[m][lr])) for m in own}
    chosen.update(tuning.fixed)
    chosen.update({m: chosen[target] for m, target in tuning.tuned_by.items()})
    for m in models:
        ctx.progress.log(f"{m}: lr {chosen[m]:g} " + ("fixed (not tuned)" if m in tuning.fixed else
                         f"chosen by {tuning.select} on tuning seed {tuning.seed}"
                         + (f" (that of {tuning.tuned_by[m]})" if m in tuning.tuned_by else "")))
    evaluated = run_study(ctx, design, jobs=[(lr_trial(m, chosen[m]), seed) for seed in ctx.seeds for m in models],
                          study=study)
    runs = []
    for run in evaluated.runs:
        model = run.model.rpartition(LR_TRIAL)[0]
        runs.append(dataclasses.replace(run, model=model, metrics={**run.metrics, "lr": chosen[model]}))
    described = {}
    for name, description in evaluated.models.items():
        model = name.rpartition(LR_TRIAL)[0]
        source = tuning.tuned_by.get(model, model)
        if source in tuning.fixed:
            described[model] = {**description, "lr": chosen[model], "lr_tuned": False}
            continue
        per_rate = score[source]
        described[model] = {**description, "lr": chosen[model], "lr_grid": list(tuning.grid),
                            f"tuning_{tuning.select}": {f"{lr:g}": value for lr, value in per_rate.items()}}
    return TunedStudy(StudyResult(runs=runs, models=described, data={**trials.data, **evaluated.data}),
                      chosen, trials.runs)


def _finite_or_worst(value: float) -> float:
    """`value`, or minus infinity when it is NaN (a diverged trial never wins)."""
    return value if value == value else -float("inf")


def metrics_at_fractions(fractions: Sequence[float], splits: Sequence[str] = ("val", "test")
                         ) -> Callable[[Trained], dict[str, float]]:
    """A `measure` giving the metrics of `splits` at fractions of training, from its evaluation curve.

    For a run evaluated every few steps (``TrainConfig.eval_every_steps``), fraction ``f`` picks
    the evaluation nearest step ``f x`` the last step and reports each of its ``<split>_*``
    metrics as ``<split>_<metric>_at_<100 f>pct``: one training pass read at checkpoints, as
    papers on online training report quality after 5B, 15B and 25B examples (DHEN, Table 2).
    """
    def measure(trained: Trained) -> dict[str, float]:
        curve = trained.result.curve
        last = curve[-1]["step"]
        out: dict[str, float] = {}
        for fraction in fractions:
            row = min(curve, key=lambda r: abs(r["step"] - fraction * last))
            tag = f"at_{round(100 * fraction)}pct"
            out.update({f"{key}_{tag}": value for key, value in row.items()
                        if any(key.startswith(f"{split}_") for split in splits)})
        return out

    return measure
