"""DreamShard (Zha et al., NeurIPS 2022) against the greedy baselines and TorchRec's planner, on one oracle.

Per seed: DreamShard is trained (Algorithm 1, :mod:`papers.dreamshard.dreamshard`) on DLRM-20 (4)
tasks of the training half of a synthetic dlrm-like pool, with the cost oracle as its hardware; then
every method places the tables of each evaluation setting's tasks, drawn from the *unseen* half of
the pool, and the same oracle scores every plan (spec pitfall 12.2: never a method's own cost
model). Methods: the official heuristics (random, naive, dim / size / lookup / size_lookup greedy),
TorchRec's ``EmbeddingShardingPlanner`` (table-wise) and DreamShard's greedy inference. The
"best greedy" of a setting is the heuristic with the fewest out-of-memory plans, then the lowest
mean cost (the paper's strongest baseline, chosen after the fact per task set).

Measured per setting and method: the mean plan cost on the tasks valid for DreamShard, the best
greedy and TorchRec (paired per task), the cost relative to the best greedy on the same task, the
out-of-memory plans and the planning time. On the first setting's plans: the cost network's error on
the measured shards (compute: forward + backward) against the sum of the shard's single-table costs
and a constant predictor, and the non-additivity of the fused kernel on those shards.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from typing import Callable, cast

import numpy as np
import pandas as pd
from scipy import stats

from harness.data.cache import resolve_cache_dir
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.sharding.additivity import NEAR_ADDITIVE, AdditivityReport, AdditivityRow, ShardTimer
from harness.sharding.baselines import ShardingResult, baseline_names, run_baseline
from harness.sharding.cost import CostOracle
from harness.sharding.cost_data import CountingOracle
from harness.sharding.evaluate import evaluate_methods
from harness.sharding.generator import SyntheticTables
from harness.sharding.metrics import paired_improvement
from harness.sharding.oracle_surrogate import SurrogateOracle
from harness.sharding.oracle_tbe import MeasuredTBEOracle
from harness.sharding.plan import ShardingTask
from harness.sharding.protocols import DREAMSHARD
from harness.sharding.tables import Table
from harness.sharding.tasks import build_task, dreamshard_tasks
from harness.sharding.torchrec_planner import torchrec_shard
from papers.dreamshard.dreamshard import (DreamShardNet, TrainedDreamShard, TrainingConfig, dreamshard_shard,
                                          predicted_plan_cost, predicted_shard_costs, train_dreamshard)
from papers.dreamshard.params import Params

TORCHREC = "torchrec"
BEST_GREEDY = "best_greedy"
METHOD = "dreamshard"


@dataclass(frozen=True)
class Benchmark:
    """The pool's tables, the training tasks and each setting's test tasks (the same on every seed)."""

    pool: SyntheticTables
    train: list[ShardingTask]
    settings: dict[str, list[ShardingTask]]


def build_benchmark(p: Params) -> Benchmark:
    """Synthetic pool, official 50/50 split and task draws (``tools/gen_tasks.py``) per setting."""
    pool = SyntheticTables(p.pool_tables, seed=p.pool_seed, feature_batch=p.feature_batch)
    tables = pool.tables(p.dim, truncate_pooling=DREAMSHARD.int_pooling_factor)

    def tasks(specs: "tuple", devices: int) -> list[ShardingTask]:
        return [build_task(s, tables, DREAMSHARD, ndevices=devices, max_memory_gb=p.max_memory_gb) for s in specs]

    train = dreamshard_tasks(p.pool_tables, seed=p.task_seed, t_range=(p.train_tables, p.train_tables + 1),
                             num_train=p.train_tasks, num_test=0).train
    settings = {}
    for s in p.settings:
        drawn = dreamshard_tasks(p.pool_tables, seed=p.task_seed, t_range=(s.tables, s.tables + 1),
                                 num_train=p.train_tasks, num_test=s.tasks)
        settings[s.name] = tasks(drawn.test, s.devices)
    return Benchmark(pool, tasks(train, p.devices), settings)


def make_oracle(p: Params, pool: SyntheticTables) -> CostOracle:
    """The one oracle of the run: fused TBE timed on CPU (cached on disk) or the surrogate."""
    if p.oracle == "surrogate":
        return SurrogateOracle(batch_size=p.timing_batch)
    cache = resolve_cache_dir() / "sharding" / "dreamshard-tbe.json" if p.cache else None
    return MeasuredTBEOracle(pool, DREAMSHARD, batch_size=p.timing_batch, row_cap=p.row_cap, cache_path=cache)


def check_params(p: Params) -> None:
    """Refuse settings the experiment cannot run, naming the field."""
    unknown = [b for b in p.baselines if b not in baseline_names()]
    if unknown:
        raise ConfigError(f"dreamshard: unknown baseline(s) {unknown} in params.baselines; known: {baseline_names()}")
    if not p.settings:
        raise ConfigError("dreamshard: params.settings is empty; declare at least the main test setting")
    half = p.pool_tables - p.pool_tables // 2
    too_big = [s.name for s in p.settings if s.tables > half] + (["training"] if p.train_tables > p.pool_tables // 2 else [])
    if too_big:
        raise ConfigError(f"dreamshard: settings {too_big} draw more tables than half the pool ({p.pool_tables // 2}); "
                          "raise params.pool_tables or lower the tables per task")
    if len({s.name for s in p.settings}) != len(p.settings):
        raise ConfigError("dreamshard: params.settings names must be distinct")


def best_greedy(frame: pd.DataFrame, baselines: "tuple[str, ...]") -> str:
    """The heuristic with the fewest invalid plans, then the lowest mean cost over its valid tasks."""
    def key(name: str) -> tuple[int, float]:
        rows = frame[frame["method"] == name]
        valid = rows[rows["valid"]]
        return int((~rows["valid"]).sum()), float(valid["cost_ms"].mean()) if len(valid) else float("inf")
    return min(baselines, key=key)


def setting_metrics(frame: pd.DataFrame, baselines: "tuple[str, ...]", suffix: str) -> tuple[dict[str, dict[str, float]], str]:
    """Per method, the setting's metrics; and the name of the setting's best greedy."""
    best = best_greedy(frame, baselines)
    cost = frame.pivot(index="task", columns="method", values="cost_ms")
    cost[BEST_GREEDY] = cost[best]
    finite = np.isfinite(cost)
    common = finite[METHOD] & finite[BEST_GREEDY] & finite[TORCHREC]
    out: dict[str, dict[str, float]] = {}
    for name in list(baselines) + [TORCHREC, METHOD, BEST_GREEDY]:
        tasks = common & finite[name]
        source = best if name == BEST_GREEDY else name
        rows = frame[frame["method"] == source]
        out[name] = {f"cost_ms_{suffix}": float(cost.loc[tasks, name].mean()) if tasks.any() else float("nan"),
                     f"rel_cost_{suffix}": float((cost.loc[tasks, name] / cost.loc[tasks, BEST_GREEDY]).mean())
                     if tasks.any() else float("nan"),
                     f"oom_tasks_{suffix}": float((~rows["valid"]).sum()),
                     f"planning_ms_{suffix}": float(1e3 * rows["planning_s"].mean())}
    for rival in (BEST_GREEDY, TORCHREC):
        gain = paired_improvement(cost[rival].tolist(), cost[METHOD].tolist())
        tag = "best_greedy" if rival == BEST_GREEDY else "torchrec"
        out[METHOD].update({f"gain_vs_{tag}_{suffix}": gain.mean, f"gain_ci_low_vs_{tag}_{suffix}": gain.ci_low,
                            f"max_gain_vs_{tag}_{suffix}": gain.max,
                            f"wins_vs_{tag}_{suffix}": float((cost.loc[common, METHOD] < cost.loc[common, rival]).mean())})
    out[METHOD][f"paired_tasks_{suffix}"] = float(common.sum())
    return out, best


@dataclass(frozen=True)
class HeldOut:
    """Measured shards of the first setting's plans with the cost network's and the singles' predictions (ms)."""

    measured: np.ndarray  # forward + backward of each fused shard
    predicted: np.ndarray  # cost network: forward head + backward head
    singles: np.ndarray  # sum of the shard's tables measured one by one
    additivity: AdditivityReport
    plan_measured: np.ndarray
    plan_predicted: np.ndarray


def held_out_shards(net: DreamShardNet, tasks: "list[ShardingTask]", plans: "dict[tuple[int, str], ShardingResult]",
                    oracle: CostOracle) -> HeldOut:
    """Every distinct non-empty shard of the valid plans on `tasks`, scored three ways (spec ds-costnet)."""
    timer = cast(ShardTimer, oracle)
    seen: set[tuple[int, tuple[int, ...]]] = set()
    measured, predicted, singles, rows = [], [], [], []
    plan_measured, plan_predicted = [], []
    for (k, _), result in sorted(plans.items()):
        task, plan = tasks[k], result.plan
        if plan is None:
            continue
        scored = oracle.evaluate(task, plan)
        if not scored.valid:
            continue
        shards = [sorted(plan.pieces[p][0] for p in shard) for shard in plan.shards]
        plan_measured.append(scored.cost)
        plan_predicted.append(predicted_plan_cost(net, task, shards))
        costs = predicted_shard_costs(net, task, shards)
        for d, shard in enumerate(shards):
            if not shard or (k, tuple(shard)) in seen:
                continue
            seen.add((k, tuple(shard)))
            tables: list[Table] = [task.tables[i] for i in shard]
            fused = float(scored.per_device[d, 0] + scored.per_device[d, 3])
            alone = [timer.shard_phases([t]) for t in tables]
            total = float(sum(f + b for f, b in alone))
            measured.append(fused)
            predicted.append(float(costs[d, 0] + costs[d, 2]))
            singles.append(total)
            if len(shard) > 1:
                rows.append(AdditivityRow(tuple(t.raw_id for t in tables), fused, total, float(scored.per_device[d, 0]),
                                          float(sum(f for f, _ in alone))))
    return HeldOut(np.array(measured), np.array(predicted), np.array(singles), AdditivityReport(tuple(rows)),
                   np.array(plan_measured), np.array(plan_predicted))


def cost_model_metrics(held: HeldOut, trained: TrainedDreamShard) -> dict[str, dict[str, float]]:
    """MSE of the cost network, the sum of singles and the training-mean constant on the held-out shards."""
    targets = [phase[0] + phase[3] for _, tables, phase in trained.samples.shards() if tables]
    constant = float(np.mean(targets))
    tau = stats.kendalltau(held.plan_predicted, held.plan_measured).statistic if len(held.plan_measured) > 1 else np.nan
    out = {"cost_net": {"test_mse": float(np.mean((held.predicted - held.measured) ** 2)),
                        "test_constant_mse": float(np.mean((constant - held.measured) ** 2)),
                        "test_mae_ms": float(np.mean(np.abs(held.predicted - held.measured))),
                        "plan_test_mse": float(np.mean((held.plan_predicted - held.plan_measured) ** 2)),
                        "plan_kendall_tau": float(tau), "held_out_shards": float(len(held.measured))},
           "fused_shards": {"mean_gap": held.additivity.mean_gap, "mean_abs_gap": held.additivity.mean_abs_gap,
                            "fused_ms": float(np.mean([r.fused_ms for r in held.additivity.rows])),
                            "sum_of_singles_ms": float(np.mean([r.sum_of_singles_ms for r in held.additivity.rows])),
                            "groups": float(len(held.additivity.rows))}}
    if held.additivity.mean_abs_gap >= NEAR_ADDITIVE:
        out["sum_of_singles"] = {"test_mse": float(np.mean((held.singles - held.measured) ** 2)),
                                 "test_mae_ms": float(np.mean(np.abs(held.singles - held.measured)))}
    return out


def training_config(p: Params) -> TrainingConfig:
    """Algorithm 1's budget from the profile."""
    return TrainingConfig(num_iterations=p.num_iterations, bench_steps=p.bench_steps,
                          bench_training_steps=p.bench_training_steps, batch_size=p.batch_size,
                          rl_num_batches=p.rl_num_batches, rl_batch_size=p.rl_batch_size,
                          entropy_weight=p.entropy_weight, lr=p.lr)


def log_progress(ctx: ExperimentContext, setting: str, message: str) -> None:
    """A progress line of the evaluation pass."""
    ctx.progress.log(f"evaluating {setting}: {message}")


def evaluation_oracle(p: Params, pool: SyntheticTables) -> CostOracle:
    """The oracle of the evaluation pass: the same kernel measured afresh (memoised within the pass only).

    Every method's plans of a task are timed back to back in one pass, so that a change of the
    machine's load between the training phase (whose measurements the disk cache keeps) and the
    evaluation cannot favour one method: no plan is scored with a cost measured at another time.
    """
    if p.oracle == "surrogate":
        return SurrogateOracle(batch_size=p.timing_batch)
    return MeasuredTBEOracle(pool, DREAMSHARD, batch_size=p.timing_batch, row_cap=p.row_cap, cache_path=None)


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Train DreamShard per seed, then score every method's plans of every task in one interleaved pass."""
    p: Params = ctx.params
    check_params(p)
    started = time.perf_counter()
    ctx.progress.log(f"dreamshard: {p.pool_tables} synthetic tables, features at batch {p.feature_batch}")
    bench = build_benchmark(p)
    oracle = make_oracle(p, bench.pool)
    trained: dict[int, TrainedDreamShard] = {}
    metrics: dict[int, dict[str, dict[str, float]]] = {}
    curves: dict[int, dict[str, list[dict[str, float]]]] = {}
    for seed in ctx.seeds:
        ctx.progress.start_job(METHOD, seed, p.num_iterations)
        counting = CountingOracle(oracle)
        trained[seed] = train_dreamshard(bench.train, counting, training_config(p), seed,
                                         progress=lambda m: ctx.progress.log(f"seed {seed}, {m}"))
        ctx.progress.end_job()
        if isinstance(oracle, MeasuredTBEOracle):
            oracle.save()
        t = trained[seed]
        metrics[seed] = {METHOD: {"oracle_plan_evaluations": float(t.oracle_plans),
                                  "oracle_shard_measurements": float(counting.shards),
                                  "rl_oracle_calls": float(t.rl_oracle_plans), "rl_episodes": float(t.rl_episodes),
                                  "training_s": t.seconds, "dead_ends": float(t.dead_ends)}}
        curves[seed] = {"cost_net": [dict(r) for r in t.log]}

    judge = evaluation_oracle(p, bench.pool)
    fixed: dict[tuple[str, int, str], ShardingResult] = {}
    chosen: dict[int, dict[str, str]] = {seed: {} for seed in ctx.seeds}
    first: dict[int, dict[tuple[int, str], ShardingResult]] = {seed: {} for seed in ctx.seeds}
    for index, setting in enumerate(p.settings):
        tasks = bench.settings[setting.name]
        position = {id(t): k for k, t in enumerate(tasks)}
        recorded: dict[tuple[int, str], ShardingResult] = {}

        def method(name: str, plan: Callable[[ShardingTask], ShardingResult], memo: bool,
                   setting_name: str = setting.name, position: dict[int, int] = position,
                   recorded: dict[tuple[int, str], ShardingResult] = recorded) -> Callable[[ShardingTask], ShardingResult]:
            def call(task: ShardingTask) -> ShardingResult:
                key = (setting_name, position[id(task)], name)
                if not memo or key not in fixed:
                    fixed[key] = plan(task)
                recorded[(position[id(task)], name)] = fixed[key]
                return fixed[key]
            return call

        methods = {name: method(name, functools.partial(run_baseline, method=name), memo=True)
                   for name in p.baselines if name != "random"}
        methods[TORCHREC] = method(TORCHREC, functools.partial(torchrec_shard, batch_size=p.torchrec_batch_size), memo=True)
        for seed in ctx.seeds:
            if "random" in p.baselines:
                methods[f"random@{seed}"] = method(f"random@{seed}",
                                                   functools.partial(run_baseline, method="random", seed=seed), memo=False)
            methods[f"{METHOD}@{seed}"] = method(f"{METHOD}@{seed}", functools.partial(dreamshard_shard, trained[seed].net),
                                                 memo=False)
        frame = evaluate_methods(tasks, methods, judge, progress=functools.partial(log_progress, ctx, setting.name))
        for seed in ctx.seeds:
            own = {f"random@{seed}": "random", f"{METHOD}@{seed}": METHOD}
            mine = frame[~frame["method"].str.contains("@") | frame["method"].isin(list(own))].copy()
            mine["method"] = mine["method"].replace(own)
            per_method, best = setting_metrics(mine, p.baselines, setting.name)
            chosen[seed][setting.name] = best
            for name, values in per_method.items():
                metrics[seed].setdefault(name, {}).update(values)
            for row in mine.itertuples():
                if np.isfinite(row.cost_ms):
                    curves[seed].setdefault(str(row.method), []).append(
                        {"setting": float(index), "task": float(row.task), "cost_ms": float(row.cost_ms)})
            if index == 0:
                first[seed] = {(k, own.get(name, name)): r for (k, name), r in recorded.items()
                               if "@" not in name or name in own}
            ctx.progress.log(f"seed {seed}, {setting.name}: dreamshard {per_method[METHOD][f'cost_ms_{setting.name}']:.3f} ms, "
                             f"best greedy ({best}) {per_method[BEST_GREEDY][f'cost_ms_{setting.name}']:.3f} ms, "
                             f"torchrec {per_method[TORCHREC][f'cost_ms_{setting.name}']:.3f} ms")

    runs: list[SeedRun] = []
    additivity_lines: list[str] = []
    for seed in ctx.seeds:
        held = held_out_shards(trained[seed].net, bench.settings[p.settings[0].name], first[seed], judge)
        for name, values in cost_model_metrics(held, trained[seed]).items():
            metrics[seed].setdefault(name, {}).update(values)
        additivity_lines.append(f"seed {seed}: {len(held.additivity.rows)} shards, mean gap "
                                f"{100 * held.additivity.mean_gap:+.1f}%, mean |gap| {100 * held.additivity.mean_abs_gap:.1f}%")
        for name, values in metrics[seed].items():
            runs.append(SeedRun(model=name, seed=seed, metrics=values, curve=curves[seed].get(name, []),
                                wall_time_s=trained[seed].seconds if name == METHOD else 0.0,
                                config={"best_greedy": chosen[seed]} if name == BEST_GREEDY else {}))
    notes = protocol_notes(p, oracle, judge, chosen, additivity_lines, time.perf_counter() - started)
    dataset = {"pool": {"tables": p.pool_tables, "fingerprint": bench.pool.fingerprint, "feature_batch": p.feature_batch,
                        "dim": p.dim},
               "tasks": {"train": f"{p.train_tasks} x DLRM-{p.train_tables} ({p.devices}) from the training half",
                         **{s.name: f"{s.tasks} x DLRM-{s.tables} ({s.devices}) from the unseen half" for s in p.settings}},
               "oracle": oracle.name}
    models = {name: {"setting_index": {s.name: i for i, s in enumerate(p.settings)}}
              for name in (*p.baselines, TORCHREC, METHOD, BEST_GREEDY)}
    return ExperimentResult(runs=runs, dataset=dataset, protocol_notes=notes, models=models)


def protocol_notes(p: Params, oracle: CostOracle, judge: CostOracle, chosen: "dict[int, dict[str, str]]",
                   additivity: "list[str]", seconds: float) -> list[str]:
    """What was run and what stands in for the paper's setup, in sentences."""
    if isinstance(oracle, MeasuredTBEOracle) and isinstance(judge, MeasuredTBEOracle):
        where = (f"fbgemm's fused TBE timed on one pinned CPU thread (batch {p.timing_batch}, rows capped at "
                 f"{p.row_cap:,} for timing; DreamShard's 5 warm-up + median of 10 per phase) and TorchRec's "
                 f"intra-node all-to-all model for communication. Training measured {oracle.misses} shards afresh "
                 f"({100 * oracle.hit_rate:.0f}% of its look-ups from the disk cache of earlier runs); the evaluation "
                 f"timed all {judge.misses} distinct shards of every method's plans afresh in one pass, task by task, "
                 "so that no comparison mixes costs measured under different machine loads; the load average at the end "
                 f"was {os.getloadavg()[0]:.1f}")
    else:
        where = "the deterministic non-additive surrogate (a pipeline test, never evidence for the paper)"
    settings = ", ".join(f"{s.name} = {s.tasks} x DLRM-{s.tables} ({s.devices})" for s in p.settings)
    return [
        f"Every plan of every method is scored by one oracle, {where}; no method is scored by its own cost model. "
        "Devices are simulated one after another on this CPU; absolute milliseconds are CPU numbers, not the paper's GPU ones.",
        f"Tables: {p.pool_tables} synthetic dlrm-like tables fitted to the published locality statistics (the "
        "dlrm_datasets traces are not available), dim 16, fp16 sizes; split 50/50 into training and unseen test "
        f"tables (official gen_tasks.py, seed {p.task_seed}). DreamShard trains on {p.train_tasks} DLRM-{p.train_tables} "
        f"({p.devices}) tasks and is evaluated without fine-tuning on: {settings} (setting index in curves: that order). "
        f"Memory cap {p.max_memory_gb:g} GB per device.",
        f"Algorithm 1 (official defaults: 10 iterations x 10 measured plans, 300 cost-network steps of batch 64, 10 x 10 "
        f"REINFORCE episodes per iteration, Adam lr 5e-4 decayed linearly); here {p.num_iterations} x {p.bench_steps} "
        f"measured plans, {p.bench_training_steps} steps of batch {p.batch_size}, {p.rl_num_batches} x {p.rl_batch_size} "
        f"episodes on the estimated MDP, lr {p.lr:g}.",
        "Best greedy = the heuristic (random, naive, dim/size/lookup/size_lookup greedy) with the fewest out-of-memory "
        "plans, then the lowest mean cost, chosen after the fact per setting and seed as the paper's strongest baseline: "
        + "; ".join(f"seed {s}: " + ", ".join(f"{k} {v}" for k, v in c.items()) for s, c in chosen.items()) + ".",
        "Costs are compared per task on the tasks where DreamShard, the best greedy and TorchRec all have a valid plan; "
        "out-of-memory plans are counted (oom_tasks_*), not averaged. TorchRec's planner runs table-wise with a 0% "
        "storage reservation (harness/sharding/README.md).",
        "Non-additivity of the fused kernel on this oracle, on the first setting's measured shards of 2+ tables "
        "(gap = (sum of singles - fused) / fused, forward + backward): " + "; ".join(additivity) + ". The harness "
        "(harness.sharding.additivity, batch 4,096) measured fused CPU shards of 16 tables 40-46% costlier than their "
        "tables apart and shards of 2-4 tables about additive: the opposite direction of the GPU kernel the paper's "
        "cost network was motivated by (fused cheaper); the cost-network claim compares against the "
        f"sum of singles only where the mean |gap| is at least {100 * NEAR_ADDITIVE:g}% (spec: otherwise inconclusive).",
        "Transferred, not checked here: the paper's 'up to 19%' speed-up over the strongest baseline (abstract) and its "
        "GPU milliseconds (DLRM-20 (4) 18.6 ms, DLRM-100 77.8 ms, Prod-80 (8) 33.6 ms: secondary source, unverified).",
        f"Run time {seconds:.0f} s.",
    ]
