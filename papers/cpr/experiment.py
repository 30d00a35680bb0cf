"""CPR: partial recovery for DLRM training (Maeng et al., arXiv 2011.02999, MLSys 2021).

Two parts, both per seed:

1. **Accuracy emulation** (real training, SYNTHETIC teacher data by default): a DLRM (dim 16,
   row-wise Adagrad tables on FBGEMM's fused kernel, Adam MLPs) trains on
   ``synthetic-ctr-teacher`` while :class:`~papers.cpr.emulation.RecoveryEmulation` injects
   failures of one of ``N_emb`` row shards (Poisson in samples processed, the same times and
   shards for every variant of a seed) and recovers them: no failure, full recovery (everything
   back to the last snapshot, the lost batches retrained), vanilla partial recovery at each PLS
   target's interval ``2 PLS N_emb MTBF``, CPR-MFU and CPR-SSU (budgeted saves of the most-used /
   sampled used rows, the same bytes per sample as partial at ``priority_pls``).
2. **Overhead simulation** (:mod:`papers.cpr.overhead`): a job under full, partial, MFU and SSU
   recovery over a grid of failure rates, every duration measured on this machine.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from harness.data.api import Splits
from harness.data.profile import profile_splits
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.params import as_table
from harness.sim.service import measure_checkpoint_io, measure_restart, measure_train_step, ServiceTime
from harness.study import Loaders, Study, Trained, Variant, relative_to_baseline, run_study
from harness.train.optim import Optimizers, SparseSpec, build_optimizers
from harness.train.trainer import TrainConfig
from papers.cpr import overhead
from papers.cpr.emulation import RecoveryEmulation, RecoveryPlan, plan_failures
from papers.cpr.params import Params

BASELINE = "no_failure"


def partial_name(pls: float) -> str:
    """The vanilla partial-recovery variant at PLS target `pls`: ``partial_pls<pls>``."""
    return f"partial_pls{pls:g}"


def variant_names(p: Params) -> list[str]:
    """The accuracy variants of the profile, in order."""
    known = {"no_failure", "full", "partial", "mfu", "ssu"}
    unknown = [v for v in p.variants if v not in known]
    if unknown:
        raise ConfigError(f"cpr: unknown variant(s) {unknown} in variants; known: {', '.join(sorted(known))}")
    names: list[str] = []
    for kind in p.variants:
        names.extend([partial_name(x) for x in p.pls_targets] if kind == "partial" else [kind])
    return names


def train_samples(splits: Splits) -> int:
    """Samples per pass over the training split (whole batches: the training loader drops the last)."""
    return len(splits.train) * int(splits.train.batch_size)


def ssu_rate(p: Params, partial_every: int, table_sizes: dict[str, int]) -> float:
    """SSU's lookup sampling rate: `p.ssu_rate`, or (0) the rate sampling one budget of rows per partial save.

    One lookup per table and sample (the harness DLRM's one-hot features): a partial save's interval
    sees ``partial_every * tables`` lookups, and the budget is ``budget * rows``.
    """
    if p.ssu_rate > 0:
        return p.ssu_rate
    return min(1.0, p.budget * sum(table_sizes.values()) / (partial_every * len(table_sizes)))


def recovery_plan(p: Params, name: str, samples_per_epoch: int, seed: int, table_sizes: dict[str, int]) -> RecoveryPlan:
    """What variant `name` saves and when its shards fail (samples), the failures shared by the seed's variants."""
    mtbf = samples_per_epoch / p.failures_per_epoch
    times, shards = plan_failures(mtbf, 3.0 * p.epochs * samples_per_epoch, p.shards, seed)

    def every(pls: float) -> int:
        return max(int(round(2 * pls * p.shards * mtbf)), 1)
    common: dict[str, Any] = {"shards": p.shards, "failures_at": times, "failed_shards": shards, "seed": seed}
    if name == BASELINE:
        return RecoveryPlan("none")
    if name == "full":
        return RecoveryPlan("full", save_every=max(int(mtbf / p.full_saves_per_mtbf), 1), **common)
    if name in ("mfu", "ssu"):
        plan = RecoveryPlan(name, save_every=every(p.priority_pls), budget=p.budget, **common)  # type: ignore[arg-type]
        rate = ssu_rate(p, plan.partial_every, table_sizes) if name == "ssu" else 0.0
        return dataclasses.replace(plan, ssu_rate=rate)
    pls = next(x for x in p.pls_targets if partial_name(x) == name)
    return RecoveryPlan("partial", save_every=every(pls), **common)


@dataclass(frozen=True)
class JobData:
    """One (variant, seed) job's data: the splits and the emulation wrapped around its training batches."""

    splits: Splits
    emulation: RecoveryEmulation


def build_model(p: Params, splits: Splits) -> nn.Module:
    """The emulated DLRM: one table of width `dim` per sparse feature."""
    sizes = splits.table_sizes
    return DLRM.from_tables([splits.num_dense, *p.bottom[1:]], list(p.top),
                            make_tables(list(sizes), list(sizes.values()), p.dim))


def make_optimizers(p: Params, device: str) -> Callable[[nn.Module, JobData], Optimizers]:
    """Adam for the MLPs, FBGEMM's fused row-wise Adagrad for the tables; the emulation attached to both."""
    def build(model: nn.Module, data: JobData) -> Optimizers:
        model, optimizers = build_optimizers(model, "adam", p.lr, 0.0, SparseSpec("rowwise_adagrad", p.sparse_lr),
                                             torch.device(device))
        data.emulation.attach(model, optimizers)
        return optimizers
    return build


def emulation_metrics(trained: Trained) -> dict[str, float]:
    """What the emulation did in this job (failures, saves, measured lost-update fraction, replay)."""
    return trained.data.emulation.stats.metrics()


def study(ctx: ExperimentContext) -> Study:
    """One variant per recovery scheme; each its own data source, so that each job gets its own emulation."""
    p: Params = ctx.params
    names = variant_names(p)
    config = TrainConfig(epochs=p.epochs, lr=p.lr, optimizer="adam", max_steps=p.max_steps or None)
    variants = {name: Variant(f"DLRM dim {p.dim}, {name.replace('_', ' ')} (failures of 1 of {p.shards} row shards)",
                              build=lambda data: build_model(p, data.splits), train=config, source=name,
                              optimizers=make_optimizers(p, ctx.device), measure=emulation_metrics,
                              settings={"recovery": name}, config={"recovery": name})
                for name in names}

    def data(source: str, seed: int) -> JobData:
        splits = profile_splits(ctx.data_dir, ctx.work_dir, as_table(p), seed)
        plan = recovery_plan(p, source, train_samples(splits), seed, splits.table_sizes)
        return JobData(splits, RecoveryEmulation(splits.train, plan))

    def loaders(data: JobData, seed: int) -> Loaders:
        return data.emulation, {"val": data.splits.val, "test": data.splits.test}

    return Study(variants=variants, data=data, loaders=loaders)


def measure_costs(p: Params, ctx: ExperimentContext, splits: Splits) -> overhead.Costs:
    """The simulation's service times, measured on this machine (see :mod:`papers.cpr.overhead`)."""
    save_fit, load_fit = measure_checkpoint_io(ctx.work_dir / "io", [m << 20 for m in p.io_sizes_mib], p.io_repeats)
    nbytes = p.sim_embedding_rows * (p.dim + 1) * 4
    what = f"the Criteo Kaggle DLRM's tables ({p.sim_embedding_rows:,} rows x (dim {p.dim} + 1) fp32)"
    batches = [b for _, b in zip(range(p.timing_steps + 3), splits.train)]
    torch.manual_seed(0)
    step = measure_train_step(build_model(p, splits), batches, steps=p.timing_steps, warmup=3,
                              sparse=SparseSpec("rowwise_adagrad", p.sparse_lr), dense_lr=p.lr,
                              what=f"the emulated DLRM (dim {p.dim})")
    tracking = {mode: tracking_time(p, splits, mode, batches) for mode in ("mfu", "ssu")}
    return overhead.Costs(save_full=save_fit.time(nbytes, what), save_priority=save_fit.time(p.budget * nbytes, what),
                          load_full=load_fit.time(nbytes, what), load_shard=load_fit.time(nbytes / p.shards, what),
                          restart=measure_restart(p.restart_repeats, p.restart_statement), step=step, track_mfu=tracking["mfu"],
                          track_ssu=tracking["ssu"], checkpoint_bytes=nbytes)


def tracking_time(p: Params, splits: Splits, mode: str, batches: list[Any]) -> ServiceTime:
    """The per-batch bookkeeping of MFU (exact lookup counters) or SSU (sampled used rows), timed on real batches."""
    model, optimizers = build_optimizers(build_model(p, splits), "adam", p.lr, 0.0,
                                         SparseSpec("rowwise_adagrad", p.sparse_lr), torch.device("cpu"))
    plan = recovery_plan(p, mode, train_samples(splits), 0, splits.table_sizes)
    emulation = RecoveryEmulation(splits.train, plan)
    emulation.attach(model, optimizers)
    samples = []
    for batch in batches:
        start = time.perf_counter()
        emulation.track(batch)
        samples.append(time.perf_counter() - start)
    median = sorted(samples)[len(samples) // 2]
    what = "exact lookup counters" if mode == "mfu" else f"lookups sampled at rate {plan.ssu_rate:.3g}"
    return ServiceTime(median, "measured", f"median of {len(samples)} per-batch {mode.upper()} tracking calls ({what}, "
                       f"batch {p.batch_size}, 26 tables) on this machine", tuple(samples))


def simulate_overheads(p: Params, costs: overhead.Costs, seeds: list[int], progress: Any) -> list[SeedRun]:
    """Every policy at every failure rate and shape, one simulated job per seed."""
    point = overhead.emulation_mtbf(costs, p.sim_full_overhead)
    work_s = p.sim_failures * point
    runs = []
    for shape_index, shape in enumerate(p.sim_shapes):
        for rate_index, rate in enumerate(p.sim_rates):
            mtbf = point / rate
            chosen = overhead.policies(costs, mtbf, p.cpr_pls, p.shards, p.budget)
            for seed in seeds:
                for name, policy in chosen.items():
                    started = time.perf_counter()
                    job = overhead.simulate(policy, work_s, mtbf, shape, [seed, shape_index, rate_index])
                    values = overhead.metrics(job, policy, mtbf)
                    if name == "full":
                        values["overhead_fifth_pct"] = values["overhead_pct"] / 5
                        values["checkpoint_gb"] = costs.checkpoint_bytes / 1e9
                    runs.append(SeedRun(model=overhead.run_name(name, rate, shape), seed=seed, metrics=values,
                                        wall_time_s=time.perf_counter() - started,
                                        config={"simulated": True, "policy": name, "rate": rate, "shape": shape}))
        progress.log(f"simulated {len(p.sim_rates)} failure rates x {len(overhead.POLICIES)} policies, gamma shape {shape:g}")
    return runs


def data_kind(dataset: str) -> str:
    """How the protocol notes name the accuracy emulation's data: SYNTHETIC teacher labels, or real rows."""
    if dataset.startswith("synthetic-ctr-teacher"):
        return f"SYNTHETIC data ({dataset}, labels from a hidden teacher DLRM), not real click logs"
    return f"real data ({dataset})"


def run(ctx: ExperimentContext) -> ExperimentResult:
    """The accuracy emulation (trained), then the overhead simulation on costs measured here."""
    p: Params = ctx.params
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("cpr: the embedding shards are virtual, in one process (papers/cpr/README.md, "
                          "'Deviations'); run without --nproc")
    trained = run_study(ctx, study)
    relative_to_baseline(trained.runs, lambda m: None if m == BASELINE else BASELINE,
                         {"auc_drop": ("test_auc", lambda value, base: base - value),
                          "logloss_rise": ("test_logloss", lambda value, base: value - base)})
    first = variant_names(p)[0]
    splits: Splits = trained.first_data(first).splits
    ctx.progress.log("measuring checkpoint save/load, worker restart, training step and MFU/SSU tracking on this machine")
    costs = measure_costs(p, ctx, splits)
    point = overhead.emulation_mtbf(costs, p.sim_full_overhead)
    sim_runs = simulate_overheads(p, costs, list(ctx.seeds), ctx.progress)
    samples = train_samples(splits)
    notes = [
        f"Accuracy: {data_kind(p.dataset)}; {samples:,} training samples per epoch, {p.epochs} epoch(s), "
        f"batch {p.batch_size}.",
        f"Failures: Poisson in samples processed, {p.failures_per_epoch:g} expected per epoch (MTBF "
        f"{samples / p.failures_per_epoch:,.0f} samples), each taking down one of {p.shards} row shards (row % "
        f"{p.shards}); the same times and shards for every variant of a seed.",
        f"Partial recovery's interval is 2 PLS N_emb MTBF (PLS targets {list(p.pls_targets)}); MFU/SSU save "
        f"{p.budget:g} of each table's rows every {p.budget:g} x the PLS-{p.priority_pls:g} interval (equal bytes); "
        f"full recovery saves {p.full_saves_per_mtbf:g}x per MTBF and retrains the lost batches.",
        f"Overhead: SIMULATED jobs ({p.sim_failures} expected failures at the emulation point, seeds {list(ctx.seeds)}); "
        "measured on this machine: checkpoint save (torch.save + fsync) and load fits, a worker restart, a DLRM "
        "training step and MFU/SSU tracking; the checkpoint size is the Criteo Kaggle DLRM's "
        f"({costs.checkpoint_bytes / 1e9:.2f} GB). O_save {costs.save_full.seconds:.3g} s, O_load "
        f"{costs.load_full.seconds:.3g} s (shard {costs.load_shard.seconds:.3g} s), O_res {costs.restart.seconds:.3g} s.",
        f"Emulation point: MTBF {point / 3600:.3g} h, where Young-interval full recovery's first-order overhead is "
        f"{100 * p.sim_full_overhead:g}% (the paper's 8.2-8.5%); the paper's production MTBF and costs are unverified. "
        "The paper's 0.53-0.68% for CPR is not a target: the relations are checked.",
    ]
    models: dict[str, dict[str, Any]] = dict(trained.models)
    for run in sim_runs:
        models.setdefault(run.model, {"description": f"SIMULATED job, {run.config['policy']} recovery, failure rate "
                                                     f"x{run.config['rate']:g} of the emulation point, gamma shape "
                                                     f"{run.config['shape']:g}",
                                      "simulated": True, "costs": costs.as_dict(),
                                      "emulation_mtbf_s": point})
    return ExperimentResult(runs=[*trained.runs, *sim_runs], dataset=splits.manifest, protocol_notes=notes,
                            models=models)
