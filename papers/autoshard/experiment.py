"""AutoShard (arXiv 2208.06399): train the policy and cost model per seed, then shard unseen tasks.

Per seed, on the synthetic dlrm-like pool (harness.sharding.generator) and with one independent
cost oracle for everything (rewards, cost-model targets, every method's score):

1. tasks as the official ``gen_dlrm_data.py --transfer`` draws them: training tasks from the first
   half of the pool; test sets ``seen`` (first-half tables, new combinations), ``unseen`` (second
   half only) and ``larger`` (more tables than in training, half of them unseen);
2. AutoShard's RL policy and cost model trained on the training tasks (papers/autoshard/autoshard.py);
3. every method on every test task (AutoShard's greedy plan, random, the four greedy sharders,
   TorchRec's planner), scored by the oracle, OOMs counted (harness.sharding.evaluate);
4. paired per-task improvements of AutoShard over the best greedy plan, TorchRec and random
   (harness.sharding.metrics.paired_improvement);
5. the cost model on the test plans' multi-table shards against the sum of measured single-table
   costs (the non-additivity it exists for, measured);
6. planning time of AutoShard, TorchRec and a greedy sharder for hundreds of tables.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.sharding.additivity import NEAR_ADDITIVE, measure_additivity
from harness.sharding.baselines import ShardingResult, run_baseline
from harness.sharding.cost import CostOracle
from harness.sharding.evaluate import evaluate_methods
from harness.sharding.generator import SyntheticTables
from harness.sharding.metrics import PredictionAccuracy, paired_improvement, prediction_accuracy
from harness.sharding.oracle_surrogate import SurrogateOracle
from harness.sharding.oracle_tbe import MeasuredTBEOracle
from harness.sharding.plan import ShardingTask
from harness.sharding.protocols import AUTOSHARD
from harness.sharding.tables import Table
from harness.sharding.tasks import TaskSpec, autoshard_tasks, build_task
from harness.sharding.torchrec_planner import torchrec_shard
from papers.autoshard.features import FeatureScaler
from papers.autoshard.autoshard import AutoShardNet, TrainConfig, TrainLog, predict_costs, rl_shard, train
from papers.autoshard.params import Params

GREEDY = ("dim_greedy", "lookup_greedy", "size_greedy", "size_lookup_greedy")
METHODS = ("autoshard", "random", *GREEDY, "torchrec")
BEST_GREEDY = "best_greedy"
COMPARED = {"best_greedy": BEST_GREEDY, "torchrec": "torchrec", "random": "random"}


Oracle = MeasuredTBEOracle | SurrogateOracle


def make_oracle(p: Params, pool: SyntheticTables, cache_dir: Path) -> Oracle:
    """The one oracle of the run: compute only (AutoShard's cost has no communication)."""
    if p.oracle == "surrogate":
        return SurrogateOracle(batch_size=p.batch_size, comm=None)
    cache_dir.mkdir(parents=True, exist_ok=True)
    return MeasuredTBEOracle(pool, AUTOSHARD, batch_size=p.batch_size, row_cap=p.row_cap, comm=None,
                             cache_path=cache_dir / f"tbe_costs_b{p.batch_size}_r{p.row_cap}.json")


def test_sets(p: Params, seed: int) -> tuple[tuple[TaskSpec, ...], dict[str, tuple[TaskSpec, ...]], tuple[int, ...]]:
    """Training tasks, the test sets and the pool dims of `seed` (official ``--transfer`` streams)."""
    t_range = (p.tables_per_task, p.tables_per_task + 1)
    seen = autoshard_tasks(p.pool_tables, seed, p.dims, t_range, p.num_train_tasks, p.num_test_tasks, True, 0.0)
    unseen = autoshard_tasks(p.pool_tables, seed, p.dims, t_range, p.num_train_tasks, p.num_test_tasks, True, 1.0)
    assert seen.train == unseen.train and seen.pool_dims is not None
    sets = {"seen": seen.test, "unseen": unseen.test}
    if p.larger_tables and p.num_larger_tasks:
        larger = autoshard_tasks(p.pool_tables, seed, p.dims, (p.larger_tables, p.larger_tables + 1), 0,
                                 p.num_larger_tasks, True, p.larger_transfer_ratio)
        sets["larger"] = larger.test
    return seen.train, sets, seen.pool_dims


def shard_cost(oracle: Oracle, tables: "list[Table]") -> float:
    """One shard's measured compute (forward + backward, ms)."""
    fwd, bwd = oracle.shard_phases(tables)
    return float(fwd + bwd)


def greedy(name: str) -> Callable[[ShardingTask], ShardingResult]:
    """The official greedy sharder `name` (quirk-compatible) as a method."""
    return lambda task: run_baseline(task, name)


def method_functions(net: AutoShardNet, scaler: FeatureScaler, seed: int, batch_size: int,
                     plans: dict[tuple[ShardingTask, str], ShardingResult]) -> dict[str, Callable[[ShardingTask], ShardingResult]]:
    """Every compared sharder as ``task -> ShardingResult``; each result is kept in `plans` by (task, method)."""
    fns: dict[str, Callable[[ShardingTask], ShardingResult]] = {
        "autoshard": lambda t: rl_shard(net, scaler, t),
        "random": lambda t: run_baseline(t, "random", seed=seed),
        **{g: greedy(g) for g in GREEDY},
        "torchrec": lambda t: torchrec_shard(t, batch_size=batch_size),
    }

    def kept(name: str) -> Callable[[ShardingTask], ShardingResult]:
        def run(task: ShardingTask) -> ShardingResult:
            plans[(task, name)] = result = fns[name](task)
            return result
        return run

    return {name: kept(name) for name in METHODS}


def with_best_greedy(results: pd.DataFrame) -> pd.DataFrame:
    """Adds, per task, the best greedy plan (lowest cost among the four greedy sharders) as a method."""
    greedy = results[results["method"].isin(GREEDY)]
    best = greedy.loc[greedy.groupby("task")["cost_ms"].idxmin()].assign(method=BEST_GREEDY)
    return pd.concat([results, best], ignore_index=True)


def set_metrics(results: pd.DataFrame, name: str) -> dict[str, dict[str, float]]:
    """Per method: mean cost and balance over valid plans, OOM count, per-task costs, paired gains."""
    costs = results.pivot(index="task", columns="method", values="cost_ms")
    out: dict[str, dict[str, float]] = {}
    for method in list(METHODS) + [BEST_GREEDY]:
        rows = results[results["method"] == method]
        valid = rows[np.isfinite(rows["cost_ms"])]
        m = {f"cost_ms_{name}": float(valid["cost_ms"].mean()) if len(valid) else float("nan"),
             f"balance_{name}": float(valid["balance"].mean()) if len(valid) else float("nan"),
             f"oom_tasks_{name}": float((~np.isfinite(rows["cost_ms"])).sum()),
             f"planning_s_{name}": float(rows["planning_s"].mean())}
        for k, (task, cost) in enumerate(costs[method].items()):
            if math.isfinite(cost):
                m[f"task_cost_ms_{name}_{k}"] = float(cost)
        for label, base in COMPARED.items():
            gain = paired_improvement(costs[base].tolist(), costs[method].tolist())
            m[f"gain_vs_{label}_{name}"] = gain.mean
        m[f"win_share_vs_best_greedy_{name}"] = win_share(costs[BEST_GREEDY].tolist(), costs[method].tolist())
        out[method] = m
    return out


def win_share(base_costs: "list[float]", method_costs: "list[float]") -> float:
    """Share of tasks where the method's plan fits in memory and costs no more than the baseline's.

    An out-of-memory plan is never a win (it counts, it is not skipped); spec section 2, as-transfer:
    "AutoShard <= best heuristic on >= 80% of settings".
    """
    wins = [math.isfinite(m) and m <= b for b, m in zip(base_costs, method_costs)]
    return float(np.mean(wins)) if wins else float("nan")


def accuracy_metrics(acc: PredictionAccuracy) -> dict[str, float]:
    """A predictor's held-out accuracy as run metrics."""
    return {"heldout_mse": acc.mse, "heldout_kendall_tau": acc.kendall_tau,
            "heldout_mean_abs_rel_error": acc.mean_abs_rel_error, "heldout_shards": float(acc.shards)}


def cost_model_metrics(net: AutoShardNet, scaler: FeatureScaler, oracle: Oracle,
                       shards: "list[tuple[list[Table], bool]]") -> dict[str, dict[str, float]]:
    """The cost head against the sum of single-table costs, on held-out multi-table shards (measured)."""
    groups = [tables for tables, _ in shards]
    measured = [shard_cost(oracle, g) for g in groups]
    singles = [sum(shard_cost(oracle, [t]) for t in g) for g in groups]
    features = [scaler.matrix(g, fp16=fp16) for g, fp16 in shards]
    predicted = predict_costs(net, features).detach().numpy().tolist()
    model, additive = prediction_accuracy(predicted, measured), prediction_accuracy(singles, measured)
    constant = prediction_accuracy([float(np.mean(measured))] * len(measured), measured)
    report = measure_additivity(oracle, [list(g) for g in groups])
    return {"cost_model": accuracy_metrics(model), "sum_of_singles": accuracy_metrics(additive),
            "constant_cost": accuracy_metrics(constant),
            "additivity": {"gap_mean": report.mean_gap, "gap_abs_mean": report.mean_abs_gap,
                           "gap_forward_mean": report.mean_forward_gap, "shards": float(len(groups))}}


def planning_metrics(p: Params, net: AutoShardNet, scaler: FeatureScaler, pool: "list[Table]",
                     pool_dims: tuple[int, ...], seed: int) -> dict[str, dict[str, float]]:
    """Wall time to plan `planning_tables` tables (drawn from the pool with replacement) per method."""
    rng = np.random.RandomState(seed)
    out: dict[str, dict[str, float]] = {"autoshard": {}, "torchrec": {}, "lookup_greedy": {}}
    for n in p.planning_tables:
        spec = TaskSpec(tuple(int(i) for i in rng.randint(len(pool), size=n)))
        task = build_task(spec, pool, AUTOSHARD, ndevices=p.ndevices, max_memory_gb=1e3, pool_dims=pool_dims)
        out["autoshard"][f"planning_s_{n}"] = rl_shard(net, scaler, task).planning_seconds
        out["torchrec"][f"planning_s_{n}"] = torchrec_shard(task, batch_size=p.batch_size).planning_seconds
        out["lookup_greedy"][f"planning_s_{n}"] = run_baseline(task, "lookup_greedy").planning_seconds
    for m in out.values():
        m["planning_s_max_tables"] = m[f"planning_s_{max(p.planning_tables)}"]
        m["planning_max_tables"] = float(max(p.planning_tables))
    return out


def run_seed(ctx: ExperimentContext, seed: int, tables: "list[Table]",
             oracle: Oracle) -> tuple[dict[str, dict[str, float]], bool, TrainLog]:
    """One seed: train, evaluate every method on every test set, the cost model and planning time."""
    p: Params = ctx.params
    train_specs, sets, pool_dims = test_sets(p, seed)

    def task_of(spec: TaskSpec) -> ShardingTask:
        return build_task(spec, tables, AUTOSHARD, ndevices=p.ndevices, max_memory_gb=p.max_memory_gb, pool_dims=pool_dims)

    train_tasks = [task_of(s) for s in train_specs]
    config = TrainConfig(total_steps=p.total_steps, batch_size=p.rl_batch_size, unroll_length=p.unroll_length,
                         num_cost_updates=p.num_cost_updates, cost_batch_size=p.cost_batch_size,
                         entropy_cost=p.entropy_cost, baseline_cost=p.baseline_cost, learning_rate=p.learning_rate)
    ctx.progress.start_job("autoshard", seed, 1)
    every = max(1, p.total_steps // (p.rl_batch_size * p.unroll_length) // 10)
    updates = iter(range(1, 1 << 30))

    def report(message: str) -> None:
        ctx.progress.update(0, 0.0, message)
        if next(updates) % every == 0:
            ctx.progress.log(f"seed {seed}: {message}")

    net, scaler, log = train(train_tasks, oracle, config, seed, progress=report)
    ctx.progress.end_job()
    metrics: dict[str, dict[str, float]] = {}
    plans: dict[tuple[ShardingTask, str], ShardingResult] = {}
    shards: list[tuple[list[Table], bool]] = []
    sizes_ok = []
    for name, specs in sets.items():
        tasks = [task_of(s) for s in specs]
        ctx.progress.log(f"seed {seed}: evaluating {len(METHODS)} methods on {len(tasks)} {name} tasks")
        results = with_best_greedy(evaluate_methods(tasks, method_functions(net, scaler, seed, p.batch_size, plans),
                                                    oracle))
        sizes_ok.append(bool(np.isfinite(results[results["method"] == "size_greedy"]["cost_ms"]).all()))
        for method, m in set_metrics(results, name).items():
            metrics.setdefault(method, {}).update(m)
        for task in tasks:
            for method in METHODS:
                result = plans[(task, method)]
                if result.plan is not None and oracle.evaluate(task, result.plan).valid:
                    shards.extend((g, task.fp16) for g in result.plan.device_tables(task) if len(g) > 1)
    for method, m in metrics.items():
        m["oom_tasks_all"] = float(sum(m[f"oom_tasks_{name}"] for name in sets))
    for model, m in cost_model_metrics(net, scaler, oracle, unique_shards(shards)).items():
        metrics.setdefault(model, {}).update(m)
    for model, m in planning_metrics(p, net, scaler, tables, pool_dims, seed).items():
        metrics.setdefault(model, {}).update(m)
    returns = [s["mean_episode_return"] for s in log.steps if math.isfinite(s["mean_episode_return"])]
    metrics["autoshard"].update(train_metrics(log, returns))
    return metrics, all(sizes_ok), log


def unique_shards(shards: "list[tuple[list[Table], bool]]") -> list[tuple[list[Table], bool]]:
    """Each distinct shard once (several methods often build the same shard)."""
    seen: dict[tuple[tuple[int, int, int], ...], tuple[list[Table], bool]] = {}
    for tables, fp16 in shards:
        seen.setdefault(tuple(sorted((t.raw_id, t.dim, t.row) for t in tables)), (tables, fp16))
    return list(seen.values())


def train_metrics(log: TrainLog, returns: "list[float]") -> dict[str, float]:
    """Training cost and progress: seconds, episodes, measured shards, first and last mean returns."""
    k = max(1, len(returns) // 5)
    return {"train_seconds": log.seconds, "train_episodes": float(log.episodes),
            "train_measured_shards": float(log.measured_shards),
            "train_return_first": float(np.mean(returns[:k])) if returns else float("nan"),
            "train_return_last": float(np.mean(returns[-k:])) if returns else float("nan")}


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Every seed: tasks, training, evaluation under one oracle; the notes say what is measured and how."""
    p: Params = ctx.params
    pool = SyntheticTables(p.pool_tables, seed=p.pool_seed, feature_batch=p.batch_size)
    ctx.progress.log(f"extracting the features of {p.pool_tables} synthetic tables (batch {p.batch_size})")
    pool_tables = pool.tables(p.dims[0], truncate_pooling=AUTOSHARD.int_pooling_factor)  # dims set per seed
    cache_dir = Path(p.cache_dir) if p.cache_dir else ctx.work_dir / "oracle_cache"
    oracle = make_oracle(p, pool, cache_dir)
    runs: list[SeedRun] = []
    infeasible = []
    curves: dict[int, list[dict[str, float]]] = {}
    for seed in ctx.seeds:
        metrics, size_greedy_fits, log = run_seed(ctx, seed, pool_tables, oracle)
        if isinstance(oracle, MeasuredTBEOracle):
            oracle.save()
            metrics["autoshard"]["oracle_cache_hit_rate"] = oracle.hit_rate
        if not size_greedy_fits:
            infeasible.append(seed)
        curves[seed] = [{"epoch": float(k + 1), "step": s["step"], "mean_episode_return": s["mean_episode_return"],
                         "cost_loss": s["cost_loss"]} for k, s in enumerate(log.steps)]
        for model, m in metrics.items():
            runs.append(SeedRun(model=model, seed=seed, metrics=m, curve=curves[seed] if model == "autoshard" else [],
                                wall_time_s=m.get("train_seconds", 0.0) if model == "autoshard" else 0.0))
    notes = protocol_notes(p, oracle, infeasible) + measured_notes(runs)
    if hasattr(os, "getloadavg"):
        notes.append(f"Load average of the machine at the end of the run (1, 5, 15 min): "
                     f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; shared cores inflate and scatter the timings.")
    dataset = {"pool": pool.fingerprint, "pool_tables": p.pool_tables, "feature_batch": p.batch_size,
               "generator": "harness.sharding.generator.SyntheticTables (fitted to dlrm_datasets locality_stats.txt)"}
    models = {m: {"method": m} for m in METHODS}
    models[BEST_GREEDY] = {"method": "per task, the lowest-cost plan of " + ", ".join(GREEDY)}
    models["cost_model"] = {"what": "AutoShard's cost head on held-out multi-table shards of the test plans"}
    models["sum_of_singles"] = {"what": "the sum of the shard's measured single-table costs"}
    models["constant_cost"] = {"what": "the held-out shards' mean measured cost for every shard"}
    models["additivity"] = {"what": "(sum of singles - fused) / fused over the same shards"}
    return ExperimentResult(runs=runs, dataset=dataset, protocol_notes=notes, models=models)


def measured_notes(runs: "list[SeedRun]") -> list[str]:
    """The measured non-additivity and planning time, as sentences for the record (means over seeds)."""
    def mean(model: str, metric: str) -> float:
        return float(np.mean([r.metrics[metric] for r in runs if r.model == model and metric in r.metrics]))

    gap, abs_gap = mean("additivity", "gap_mean"), mean("additivity", "gap_abs_mean")
    direction = ("fused shards cost MORE than the sum of their tables (CPU), the opposite of the GPU premise"
                 if gap < 0 else "fused shards cost less than the sum of their tables, as on GPU")
    verdict = "near-additive" if abs_gap < NEAR_ADDITIVE else "non-additive"
    return [f"Measured non-additivity of the oracle on the held-out multi-table shards (mean over seeds of "
            f"{mean('additivity', 'shards'):.0f} shards per seed): mean (sum of singles - fused) / fused = "
            f"{100 * gap:+.1f}%, mean |gap| {100 * abs_gap:.1f}% ({verdict}; {direction}).",
            f"Measured planning time for {mean('autoshard', 'planning_max_tables'):.0f} tables: AutoShard "
            f"{mean('autoshard', 'planning_s_max_tables'):.2f} s, TorchRec's planner "
            f"{mean('torchrec', 'planning_s_max_tables'):.2f} s, lookup greedy "
            f"{1e3 * mean('lookup_greedy', 'planning_s_max_tables'):.1f} ms."]


def protocol_notes(p: Params, oracle: CostOracle, infeasible: "list[int]") -> list[str]:
    """What was measured and how; the deviations from the paper's GPU protocol."""
    if isinstance(oracle, MeasuredTBEOracle):
        who = (f"fbgemm's fused TBE timed on CPU (one pinned thread, EXACT_SGD, FP32 weights, batch {p.batch_size}, "
               f"rows capped at {p.row_cap:,} for timing, 5 warm-up + trimmed mean of 10, forward + backward; "
               f"{len(oracle.cache)} shard timings cached, hit rate {100 * oracle.hit_rate:.0f}%)")
    else:
        who = "the deterministic surrogate (harness.sharding.oracle_surrogate; tests only, never evidence)"
    notes = [f"One oracle for everything: {who}. It gives AutoShard's rewards and its cost model's targets and "
             "scores every method's plan; AutoShard is never scored by its own cost model. Devices are simulated: "
             "shards are timed one after another on the same core, as the official Env.step does on one GPU; cost "
             "= compute only (no all-to-all), as in the official bench.",
             f"Synthetic dlrm-like pool of {p.pool_tables} tables (the dlrm_datasets traces are absent), dims from "
             f"{list(p.dims)}, tasks of {p.tables_per_task} tables on {p.ndevices} devices with a "
             f"{p.max_memory_gb} GB cap (scaled from 80 tables, 8 devices, 7 GB), drawn per seed by the official "
             "--transfer streams: training tasks from the first half of the pool, test sets 'seen' (first-half "
             "tables), 'unseen' (second half only) and 'larger' "
             f"({p.larger_tables} tables, {100 * p.larger_transfer_ratio:g}% unseen).",
             f"RL at CPU scale: {p.total_steps:,} environment steps (official 100,000), {p.rl_batch_size} unrolls of "
             f"{p.unroll_length} steps per learner step (official 8 x 100), actors run in-process one after another "
             "(V-trace with importance weights 1); every other flag is the official value.",
             "Baselines: the official random/dim/lookup/size greedy plus size_lookup_greedy (DreamShard's, an "
             "addition) and TorchRec's EmbeddingShardingPlanner (table-wise, 0% storage reservation). 'best_greedy' "
             "is per task the lowest-cost plan of the four greedy sharders, chosen after scoring. OOM plans are "
             "counted (oom_tasks_*); paired gains skip the tasks where either plan is out of memory.",
             "Non-additivity of fused CPU TBE (harness.sharding.additivity, measured here as additivity:gap_mean on "
             "the test plans' multi-table shards): on CPU a fused shard of many tables costs more than the sum of "
             "its tables (about 40-46% for 16-table shards in harness/sharding/README.md), the opposite of the GPU "
             "kernel the paper describes, where fusion makes a shard cheaper. The cost-model claims are judged on "
             f"this CPU non-additivity; below a mean |gap| of {100 * NEAR_ADDITIVE:g}% they would be moot.",
             "The paper's production results (deployed at Meta) and its GPU percentages are not checked here."]
    if infeasible:
        notes.append(f"size_greedy did not fit every task in memory on seeds {infeasible}: raise max_memory_gb.")
    return notes

