"""Zou et al., "Distributed Training Large-Scale Deep Architectures" (ADMA 2017): the guidelines on a DLRM.

The paper's experiments are CNNs on GPUs with TensorFlow parameter servers; the suite transfers
its *procedures* to a small DLRM on this CPU (spec-sharding-distributed.md, Sec. 11). Per seed:

1. **Minibatch knee, measured:** training throughput (examples/s) of real steps of the small
   DLRM at every per-GPU minibatch size (:func:`harness.sim.service.measure_train_step`); the knee
   is the smallest size within `knee_fraction` of the best (:func:`harness.sim.scaling.knee`).
2. **Parameter servers, simulated** (:func:`harness.sim.scaling.sweep_ps_shards`; parameter
   servers exist only as FIFO queues in the simulator): `gpus` workers with the measured step time
   of the small and the large model push and pull the model through 1-32 shards, each push-pull
   timed by the measured gloo broadcast fit; the simulated knee against the lemma's shard count
   (:func:`harness.sim.scaling.ps_shards_lemma`).
3. **GPUs, simulated** (:func:`harness.sim.scaling.sweep_workers`): synchronous all-reduce
   scaling of 1-64 workers with the measured step time at the smallest and at the knee minibatch.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from harness.data.api import Splits
from harness.data.profile import profile_splits
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.params import as_table
from harness.sim.scaling import (all_reduce_service, gloo_fit, knee, ps_shards_lemma, push_pull_service,
                                 sweep_ps_shards, sweep_workers)
from harness.sim.service import ServiceTime, measure_train_step
from harness.train.trainer import seed_everything
from papers.dp_guidelines.params import Params


def build_model(splits: Splits, dim: int, mlp: int) -> nn.Module:
    """A DLRM with `dim`-wide tables and `mlp`-wide bottom and top MLPs."""
    sizes = splits.table_sizes
    return DLRM.from_tables([splits.num_dense, mlp, dim], [mlp, 1], make_tables(list(sizes), list(sizes.values()), dim))


def model_bytes(model: nn.Module) -> int:
    """Bytes of every parameter: what a push (or a pull) moves."""
    return sum(t.numel() * t.element_size() for t in model.parameters())


def step_time(ctx: ExperimentContext, batch_size: int, dim: int, mlp: int, steps: int, seed: int) -> ServiceTime:
    """The measured training step of a fresh DLRM on minibatches of `batch_size` rows."""
    p: Params = ctx.params
    splits = profile_splits(ctx.data_dir, ctx.work_dir, {**as_table(p), "batch_size": batch_size}, seed)
    batches = [b for b, _ in zip(splits.train, range(3))]
    seed_everything(seed)
    return measure_train_step(build_model(splits, dim, mlp), batches, steps=steps, warmup=2,
                              what=f"the DLRM (dim {dim}, MLPs {mlp})")


def _log2_slope(b0: float, b1: float, e0: float, e1: float) -> float:
    """Throughput gain per doubling of the minibatch between two sizes: ``log2(e1/e0) / log2(b1/b0)``."""
    return math.log2(e1 / e0) / math.log2(b1 / b0) if b1 > b0 else 0.0


def minibatch_run(ctx: ExperimentContext, seed: int) -> tuple[SeedRun, dict[int, ServiceTime]]:
    """Throughput against minibatch size, its knee and the gain per doubling before and after it."""
    p: Params = ctx.params
    times = {b: step_time(ctx, b, p.dim, p.mlp, p.timing_steps, seed) for b in p.batch_sizes}
    eps = {b: b / t.seconds for b, t in times.items()}
    sizes = list(eps)
    knee_b = int(knee(sizes, [eps[b] for b in sizes], p.knee_fraction))
    small, large = sizes[0], sizes[-1]
    metrics = {f"eps_b{b}": e for b, e in eps.items()}
    metrics.update({"knee_batch": float(knee_b), "eps_at_smallest": eps[small], "eps_at_knee": eps[knee_b],
                    "eps_at_largest": eps[large],
                    "gain_per_doubling_before_knee": _log2_slope(small, knee_b, eps[small], eps[knee_b]),
                    "gain_per_doubling_after_knee": _log2_slope(knee_b, large, eps[knee_b], eps[large])})
    return SeedRun(model="minibatch", seed=seed, metrics=metrics, config={"measured": True}), times


def ps_runs(p: Params, name: str, compute: ServiceTime, push_pull: ServiceTime, seed: int) -> list[SeedRun]:
    """SIMULATED throughput against parameter-server shards for each GPU count, its knee and the lemma's count.

    A knee or a lemma count the sweep cannot show is NaN (the claim using it is then inconclusive):
    the knee when the throughput still rises at the largest shard count (by more than 2%), the
    throughput at the lemma's count when that count lies beyond the sweep.
    """
    runs = []
    nan = float("nan")
    for gpus in p.gpus:
        points = sweep_ps_shards(p.ps_shards, gpus, compute, push_pull, p.ps_batch, p.sim_iterations,
                                 jitter=True, seed=seed)
        eps = {pt.ps_shards: pt.examples_per_s for pt in points}
        counts = sorted(eps)
        best = max(eps.values())
        still_rising = len(counts) > 1 and eps[counts[-1]] > 1.02 * eps[counts[-2]]
        lemma = ps_shards_lemma(gpus, compute.seconds, push_pull.seconds)
        at_lemma = next((s for s in counts if s >= lemma), None)
        metrics = {f"eps_ps{s}": e for s, e in eps.items()}
        metrics.update({"knee_nps": nan if still_rising else float(knee(counts, [eps[s] for s in counts],
                                                                            p.knee_fraction)),
                        "lemma_nps": float(lemma), "eps_ps1": eps[counts[0]],
                        "eps_at_lemma": eps[at_lemma] if at_lemma else nan,
                        "fraction_of_best_at_lemma": eps[at_lemma] / best if at_lemma else nan,
                        "push_pull_over_compute": push_pull.seconds / compute.seconds})
        runs.append(SeedRun(model=f"ps_{name}_n{gpus}", seed=seed, metrics=metrics,
                            config={"simulated": True, "gpus": gpus, "batch": p.ps_batch}))
    return runs


def allreduce_run(p: Params, name: str, compute: ServiceTime, batch: int, fit: dict[str, Any], nbytes: int,
                  seed: int) -> SeedRun:
    """SIMULATED synchronous all-reduce scaling at one per-GPU minibatch; the lemma's GPU count (sync <= compute)."""
    points = sweep_workers(p.workers, compute, lambda n: all_reduce_service(fit, n, nbytes), "allreduce", batch,
                           iterations=p.sim_iterations, jitter=True, seed=seed)
    metrics = {f"efficiency_n{pt.workers}": pt.efficiency for pt in points}
    metrics.update({f"eps_n{pt.workers}": pt.examples_per_s for pt in points})
    lemma = max((n for n in p.workers if all_reduce_service(fit, n, nbytes).seconds <= compute.seconds), default=1)
    half = [pt.workers for pt in points if pt.efficiency >= 0.5]
    metrics.update({"gpus_lemma": float(lemma), "gpus_at_half_efficiency": float(max(half, default=1))})
    return SeedRun(model=f"ar_{name}", seed=seed, metrics=metrics,
                   config={"simulated": True, "batch": batch})


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Measure the minibatch curve and the service times, then simulate the GPU and parameter-server studies."""
    p: Params = ctx.params
    fit = gloo_fit(p.comm_fit, ctx.work_dir)
    runs: list[SeedRun] = []
    sources: dict[str, Any] = {}
    manifest: dict[str, Any] = {}
    for seed in ctx.seeds:
        ctx.progress.start_job("minibatch", seed, 1)
        minibatch, times = minibatch_run(ctx, seed)
        runs.append(minibatch)
        ctx.progress.update(1, minibatch.metrics["eps_at_knee"], f"knee at batch {minibatch.metrics['knee_batch']:.0f}")
        ctx.progress.end_job()
        splits = profile_splits(ctx.data_dir, ctx.work_dir, as_table(p), seed)
        manifest = splits.manifest
        models = {"small": (p.dim, p.mlp), "large": (p.large_dim, p.large_mlp)}
        for name, (dim, mlp) in models.items():
            nbytes = model_bytes(build_model(splits, dim, mlp))
            compute = step_time(ctx, p.ps_batch, dim, mlp, p.timing_steps, seed)
            push_pull = push_pull_service(fit, nbytes)
            runs += ps_runs(p, name, compute, push_pull, seed)
            sources[f"ps_{name}"] = {"compute": compute.as_dict(), "push_pull": push_pull.as_dict(), "model_bytes": nbytes}
        small_bytes = model_bytes(build_model(splits, p.dim, p.mlp))
        knee_b = int(minibatch.metrics["knee_batch"])
        for name, batch in {"smallest": p.batch_sizes[0], "knee": knee_b}.items():
            runs.append(allreduce_run(p, name, times[batch], batch, fit, small_bytes, seed))
        sources["ar"] = {"compute": {b: times[b].as_dict() for b in (p.batch_sizes[0], knee_b)},
                         "sync_n2": all_reduce_service(fit, 2, small_bytes).as_dict()}
        ctx.progress.log(f"seed {seed}: knee batch {knee_b}, simulated PS knees "
                         + ", ".join(f"{r.model} {r.metrics['knee_nps']:.0f} (lemma {r.metrics['lemma_nps']:.0f})"
                                     for r in runs if r.seed == seed and r.model.startswith("ps_")))
    notes = [
        "TRANSFERRED procedure: the paper's experiments are CNNs on GPUs (TensorFlow, parameter servers); here its "
        "minibatch procedure and its GPU / parameter-server lemmas are applied to a small DLRM on this CPU. The "
        "paper's numbers are not verified (only its abstract was available) and are not targets.",
        f"MEASURED (minibatch): examples/s of {p.timing_steps} real training steps per minibatch size "
        f"{list(p.batch_sizes)}, one thread, fused embedding SGD; knee = smallest size within {p.knee_fraction:.0%} "
        "of the best.",
        "SIMULATED (ps_*, ar_*): parameter servers exist only as FIFO queues in the event simulator (no parameter "
        f"server or RPC layer is run); measured service times: the training step at batch {p.ps_batch} of each model "
        "and the gloo broadcast / all-reduce fit of this machine (sources in the run's model descriptions). "
        "The lemmas are the suite's formulation, (N-1) T_pp / T_c shards and sync <= compute GPUs; the paper's "
        "formulas are not verified.",
        "The arXiv id 1709.06622 is unconfirmed: the stored seeds hold the abstract (on the DES page's related "
        "research list, untitled and without an id), nothing ties the id to the title.",
    ]
    described = {r.model: {"description": _describe(r.model, p), "simulated": r.model != "minibatch",
                           "service_times": sources, "gloo_fit": fit} for r in runs}
    return ExperimentResult(runs=runs, dataset=manifest, protocol_notes=notes, models=described)


def _describe(name: str, p: Params) -> str:
    """A one-line description of a run name."""
    if name == "minibatch":
        return f"MEASURED training throughput against per-GPU minibatch size {list(p.batch_sizes)} (small DLRM)"
    if name.startswith("ps_"):
        return f"SIMULATED parameter-server shards {list(p.ps_shards)} for {name.rpartition('_n')[2]} GPUs ({name.split('_')[1]} model)"
    return f"SIMULATED synchronous all-reduce over {list(p.workers)} workers at the {name[3:]} minibatch"
