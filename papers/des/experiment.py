"""DES (Rong et al., arXiv 1909.04823 v5): equal outputs, bytes on the wire, simulated throughput.

Per seed, on a real gloo world (``procs`` processes launched through torchrun, or the world of
``repro run des --nproc N``), from the same initial DeepFM and the same global batches:

* ``single``: the one-process model trained with plain SGD (rank 0);
* ``des``: every rank holds a block of tables, sums its partials for the whole batch over the ranks
  (one all-reduce per step), runs the replicated head and updates its own rows (:mod:`.des`);
* ``mesh``: table-wise model parallelism moving embeddings: pooled vectors all-to-all forward,
  their gradients back, dense gradients all-reduced (the paper's mesh-based strategy).

Every collective is counted by :class:`~harness.cluster.comm.ByteCounter` (wire bytes per rank,
ring / pairwise algorithms) and checked against the hand formulas; ``ps`` is a parameter server's
traffic *counted* on the same id stream (each worker pulls and pushes the unique rows of its
samples, and the dense parameters), not run. Throughput is *simulated*
(:func:`harness.sim.training.simulate`): compute service times measured on this machine, the
communication on a declared cluster link. The byte curves over workers and batch sizes are
configuration arithmetic (DES, mesh) and id-stream counts (PS).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from harness.cluster.comm import ByteCounter, count_collectives
from harness.cluster.exchange import FLOAT_BYTES, blocks, table_wise_exchange_bytes, seeds_on_world, worker_main
from harness.cluster.topology import Link, Topology, ring_wire_bytes
from harness.errors import ConfigError
from harness.data.profile import profile_splits
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.metrics import binary_metrics
from harness.params import as_table, parse_params
from harness.sim.service import ServiceTime, declared
from harness.sim.training import ClusterConfig, simulate
from harness.train.distributed import World, main_first
from harness.train.trainer import seed_everything
from papers.des.des import (DeepFM, des_logits, des_payload_bytes, des_shard, dense_parameter_bytes, mesh_logits,
                            mesh_rank, owned_features)
from papers.des.params import Params

MODULE = "papers.des.experiment"
SIM_HORIZON_S = 30.0


def _params(payload: dict[str, Any]) -> Params:
    return parse_params(Params, payload["params"], "papers/des/paper.toml params")


def _world() -> World:
    return World(dist.get_rank(), dist.get_world_size(), torch.device("cpu"))


def build_model(table_sizes: dict[str, int], num_dense: int, p: Params) -> DeepFM:
    """The DeepFM over every sparse feature of the data, in the data's key order."""
    return DeepFM(list(table_sizes), list(table_sizes.values()), p.dim, num_dense, p.hidden)


def _global_batches(loader: Iterable[Any], steps: int) -> list[Any]:
    out: list[Any] = []
    for batch in loader:
        if steps and len(out) >= steps:
            break
        out.append(batch)
    return out


def _loss(logits: torch.Tensor, labels: torch.Tensor, denominator: int) -> torch.Tensor:
    """Binary cross-entropy summed over the rows given, divided by the global batch size."""
    return nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / denominator


def _train_single(model: DeepFM, batches: list[Any], lr: float) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for batch in batches:
        opt.zero_grad(set_to_none=True)
        _loss(model(batch), batch.labels, len(batch.labels)).backward()
        opt.step()


def _train_des(model: DeepFM, owned: range, batches: list[Any], lr: float) -> tuple[DeepFM, ByteCounter, list[float]]:
    shard = des_shard(model, owned)
    opt = torch.optim.SGD(shard.parameters(), lr=lr)
    counter, seconds = ByteCounter(), []
    for batch in batches:
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with count_collectives(counter):
            _loss(des_logits(shard, owned, batch), batch.labels, len(batch.labels)).backward()
        opt.step()
        seconds.append(time.perf_counter() - start)
    return shard, counter, seconds


def _train_mesh(model: DeepFM, owned: range, world: World, batches: list[Any], lr: float) -> tuple[Any, ByteCounter, list[float]]:
    rank = mesh_rank(model, owned)
    params = [*rank.table_parameters(), *rank.dense_parameters()]
    opt = torch.optim.SGD(params, lr=lr)
    counter, seconds = ByteCounter(), []
    for batch in batches:
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        lo, hi = world.rank * len(batch.labels) // world.size, (world.rank + 1) * len(batch.labels) // world.size
        with count_collectives(counter):
            logits = mesh_logits(rank, owned, world.size, world.rank, batch)
            _loss(logits, batch.labels[lo:hi], len(batch.labels)).backward()
            dense = rank.dense_parameters()
            flat = torch.cat([p.grad.reshape(-1) for p in dense])  # type: ignore[union-attr]
            dist.all_reduce(flat)
        for p, g in zip(dense, flat.split([p.numel() for p in dense])):
            p.grad = g.view_as(p)
        opt.step()
        seconds.append(time.perf_counter() - start)
    return rank, counter, seconds


def _gather_rows(local: torch.Tensor) -> torch.Tensor:
    parts = [torch.empty(0)] * dist.get_world_size()
    dist.all_gather_object(parts, local.detach())
    return torch.cat(parts)


def _evaluate_des(shard: DeepFM, owned: range, batches: Iterable[Any]) -> dict[str, float]:
    with torch.no_grad():
        pairs = [(des_logits(shard, owned, b), b.labels) for b in batches]
    return binary_metrics(torch.cat([l for l, _ in pairs]), torch.cat([y for _, y in pairs]))


def id_matrix(batch: Any) -> np.ndarray:
    """The ids of a batch whose features hold one id per sample, as ``[B, F]`` (model feature order)."""
    kjt = batch.sparse_features
    if not bool((kjt.lengths() == 1).all()):
        raise ConfigError("the PS count needs one id per sample and feature (Criteo-style data); "
                          "this dataset has multi-valued features")
    return kjt.values().view(len(kjt.keys()), -1).T.numpy()


def ps_bytes(ids: np.ndarray, workers: int, dim: int, dense_bytes: int) -> float:
    """Parameter-server traffic of one step, counted on the step's ids ``[B, F]`` (spec Sec. 7, Method).

    Every worker pulls the unique rows (``k`` factors and a weight) of its slice's ids per table and
    pushes as many row gradients, and pulls and pushes the dense parameters once:
    ``sum_w 2 (unique_w (k + 1) 4 + dense)`` bytes.
    """
    rows = ids.shape[0]
    total = 0.0
    for w in range(workers):
        part = ids[w * rows // workers:(w + 1) * rows // workers]
        unique = sum(len(np.unique(part[:, f])) for f in range(ids.shape[1]))
        total += 2 * (unique * (dim + 1) * FLOAT_BYTES + dense_bytes)
    return total


def _seed_part(p: Params, data_dir: Path, work_dir: Path, seed: int, world: World) -> dict[str, Any]:
    """One seed on every rank: train the three ways, count bytes, compare outputs (rank 0's result is used)."""
    with main_first(world):
        splits = profile_splits(data_dir, work_dir, as_table(p), seed)
    splits.train.set_epoch(0)
    batches = _global_batches(splits.train, p.steps)
    probe = next(iter(splits.test))
    seed_everything(seed)
    model = build_model(splits.table_sizes, splits.num_dense, p)
    owned = blocks(len(model.features), world.size)[world.rank]
    with torch.no_grad():
        des_first = des_logits(des_shard(model, owned), owned, probe)
        mesh_first = _gather_rows(mesh_logits(mesh_rank(model, owned), owned, world.size, world.rank, probe))
    shard, des_counter, des_s = _train_des(model, owned, batches, p.lr)
    mesh, mesh_counter, mesh_s = _train_mesh(model, owned, world, batches, p.lr)
    with torch.no_grad():
        des_probe = des_logits(shard, owned, probe)
        mesh_probe = _gather_rows(mesh_logits(mesh, owned, world.size, world.rank, probe))
    des_test = _evaluate_des(shard, owned, splits.test)
    out: dict[str, Any] = {"world": world.size, "steps": len(batches), "batch": len(batches[0].labels)}
    if world.is_main:
        single_first = model(probe).detach()
        _train_single(model, batches, p.lr)
        with torch.no_grad():
            single_probe = model(probe)
        out.update({
            "des_diff_step0": float((des_first - single_first).abs().max()),
            "mesh_diff_step0": float((mesh_first - single_first).abs().max()),
            "des_diff_trained": float((des_probe - single_probe).abs().max()),
            "mesh_diff_trained": float((mesh_probe - single_probe).abs().max()),
            "des_test": des_test,
            "des_wire": des_counter.wire_total() / len(batches), "mesh_wire": mesh_counter.wire_total() / len(batches),
            "des_payload": des_counter.payload_by_collective(), "mesh_payload": mesh_counter.payload_by_collective(),
            "des_calls": des_counter.calls(), "mesh_calls": mesh_counter.calls(),
            "des_step_s": statistics.median(des_s), "mesh_step_s": statistics.median(mesh_s),
            "dense_bytes": dense_parameter_bytes(model), "features": len(model.features),
            "ps_bytes": float(np.mean([ps_bytes(id_matrix(b), world.size, p.dim, dense_parameter_bytes(model))
                                       for b in batches])),
        })
    return out


def distributed_part(payload: dict[str, Any]) -> dict[str, Any]:
    """Every seed of the run on this rank (the torchrun entry point, through :func:`world_result`)."""
    p = _params(payload)
    world = _world()
    torch.set_num_threads(1)
    return {str(seed): _seed_part(p, Path(payload["data_dir"]), Path(payload["work_dir"]), seed, world)
            for seed in payload["seeds"]}


# ------------------------------------------------------------------ hand formulas and curves

def des_wire_bytes(batch: int, dim: int, first_width: int, workers: int) -> float:
    """DES wire bytes per step summed over the workers: one ring all-reduce of ``B (2 + k + h)`` floats each."""
    return workers * ring_wire_bytes("all_reduce", workers, des_payload_bytes(batch, dim, first_width))


def mesh_wire_bytes(batch: int, features: int, dim: int, dense_bytes: int, workers: int) -> float:
    """Embedding exchange wire bytes per step over the workers: pooled ``k + 1`` floats per (sample, feature)
    all-to-all forward and back (every reader holds its ids, no id exchange), plus the dense gradient all-reduce."""
    payload = table_wise_exchange_bytes(batch, features, dim + 1, workers, with_ids=False)
    exchanged = sum(ring_wire_bytes("all_to_all", workers, v) for v in payload.values())
    return exchanged + workers * ring_wire_bytes("all_reduce", workers, dense_bytes)


def byte_curves(p: Params, ids: np.ndarray, features: int, dense_bytes: int) -> list[dict[str, float]]:
    """Wire bytes per step over workers and batch sizes: DES and mesh by formula, PS counted on the id stream
    `ids` (``[rows, F]``, cut into consecutive global batches, at most ``sweep_steps`` per size)."""
    rows = []
    for batch_size in p.sweep_batches:
        steps = min(p.sweep_steps, ids.shape[0] // batch_size)
        for workers in p.sweep_workers:
            if batch_size % workers or steps == 0:
                continue
            ps = float(np.mean([ps_bytes(ids[i * batch_size:(i + 1) * batch_size], workers, p.dim, dense_bytes)
                                for i in range(steps)]))
            rows.append({"batch": batch_size, "workers": workers, "ps": ps,
                         "des": des_wire_bytes(batch_size, p.dim, p.hidden[0], workers),
                         "mesh": mesh_wire_bytes(batch_size, features, p.dim, dense_bytes, workers)})
    return rows


# ------------------------------------------------------------------ measured compute, simulated throughput

def _timed(step: Callable[[], torch.Tensor], repeats: int, warmup: int = 2) -> list[float]:
    samples = []
    for i in range(repeats + warmup):
        start = time.perf_counter()
        step().backward()
        if i >= warmup:
            samples.append(time.perf_counter() - start)
    return samples


def compute_times(model: DeepFM, batch: Any, workers: int, repeats: int) -> dict[str, ServiceTime]:
    """Measured forward+backward seconds of one worker's compute, without communication, per method.

    DES: its tables' partials for the whole batch and the head on the whole batch; mesh: its tables'
    pooled vectors for the whole batch, then the first layer and head on its ``B/N`` slice over every
    feature (the received vectors stand in as copies of its own, same shapes).
    """
    owned = blocks(len(model.features), workers)[0]
    shard = des_shard(model, owned)
    ids = owned_features(batch.sparse_features, owned)
    size, features = len(batch.labels), len(model.features)
    local = size // workers

    def des_step() -> torch.Tensor:
        return shard.head(shard.partials(ids), batch.dense_features).sum()

    def mesh_step() -> torch.Tensor:
        factors, weights = shard.lookup(ids)
        copies = -(-features // len(owned))
        f = factors[:local].repeat(1, copies, 1)[:, :features]
        w = weights[:local].repeat(1, copies)[:, :features]
        return model.head(model.partials_from(f, w), batch.dense_features[:local]).sum()

    out = {}
    for name, step in (("des", des_step), ("mesh", mesh_step)):
        samples = _timed(step, repeats)
        out[name] = ServiceTime(statistics.median(samples), "measured",
                                f"median of {repeats} forward+backward passes of one {name} worker's compute "
                                f"({workers} workers, batch {size}, {torch.get_num_threads()} thread(s)) on this "
                                f"machine, no communication", tuple(samples))
    return out


def comm_seconds(p: Params, workers: int, batch: int, features: int, dense_bytes: int) -> dict[str, ServiceTime]:
    """Communication time of one step per method on the declared cluster (Thakur et al. 2005 formulas,
    :mod:`harness.cluster.topology`): DES one ring all-reduce; mesh two pairwise all-to-alls and the
    dense ring all-reduce."""
    link = Link(p.link_latency_us * 1e-6, p.link_gbps * 1e9 / 8)
    cluster = Topology(hosts=workers, local_ranks=1, intra=link, inter=link)
    des_s = cluster.all_reduce_s(des_payload_bytes(batch, p.dim, p.hidden[0]))
    pooled = table_wise_exchange_bytes(batch, features, p.dim + 1, workers, with_ids=False)["pooled"] / workers
    mesh_s = 2 * cluster.all_to_all_s(pooled) + cluster.all_reduce_s(dense_bytes)
    where = (f"{workers} workers on a DECLARED {p.link_gbps:g} Gbit/s link with {p.link_latency_us:g} us latency "
             "(the paper's network is not verified); bytes from the hand formulas the counter checks")
    return {"des": declared(des_s, f"ring all-reduce of the partial block; {where}"),
            "mesh": declared(mesh_s, f"pooled all-to-all forward and back, dense all-reduce; {where}")}


def simulated_throughput(compute: dict[str, ServiceTime], comm: dict[str, ServiceTime], workers: int,
                         batch: int) -> dict[str, dict[str, Any]]:
    """SIMULATED examples/s per method: `workers` synchronous workers, measured compute then the collective."""
    out = {}
    for name in ("des", "mesh"):
        result = simulate(ClusterConfig(workers=workers, compute=(compute[name],), sync=comm[name], mode="allreduce",
                                        batch_size=batch // workers), SIM_HORIZON_S)
        out[name] = {"examples_per_s": result.examples_per_s,
                     "sources": {"compute": compute[name].as_dict(), "sync": comm[name].as_dict()}}
    return out


# ------------------------------------------------------------------ the run

def run(ctx: ExperimentContext) -> ExperimentResult:
    """The real distributed runs per seed, then the curves and the simulated throughput."""
    p: Params = ctx.params
    ctx.progress.log(f"DES: real run on gloo processes ({p.procs} unless under torchrun), {len(ctx.seeds)} seed(s)")
    per_seed, wall = seeds_on_world(ctx, distributed_part, MODULE, p.procs, as_table(p))
    splits = profile_splits(ctx.data_dir, ctx.work_dir, as_table(p), ctx.seeds[0])
    splits.train.set_epoch(0)
    batches = _global_batches(splits.train, 0)
    first = per_seed[str(ctx.seeds[0])]
    workers, batch = int(first["world"]), int(first["batch"])
    features, dense_bytes = int(first["features"]), int(first["dense_bytes"])
    curves = byte_curves(p, np.concatenate([id_matrix(b) for b in batches]), features, dense_bytes)
    sim_workers = max(workers, 2)
    runs: list[SeedRun] = []
    sims = {}
    for seed in ctx.seeds:
        r = per_seed[str(seed)]
        seed_everything(seed)
        timing_model = build_model(splits.table_sizes, splits.num_dense, p)
        compute = compute_times(timing_model, batches[0], sim_workers, p.timing_repeats)
        sim = simulated_throughput(compute, comm_seconds(p, sim_workers, batch, features, dense_bytes),
                                   sim_workers, batch)
        sims[seed] = sim
        formula_des = des_wire_bytes(batch, p.dim, p.hidden[0], workers)
        formula_mesh = mesh_wire_bytes(batch, features, p.dim, dense_bytes, workers)
        des_total, mesh_total = r["des_wire"] * workers, r["mesh_wire"] * workers
        common = {"world_size": workers, "steps": r["steps"], "batch": batch}
        runs.append(SeedRun("des", seed, {
            "max_abs_logit_diff_step0": r["des_diff_step0"], "max_abs_logit_diff_trained": r["des_diff_trained"],
            "wire_bytes_per_step": des_total, "formula_bytes_per_step": formula_des,
            "counted_over_formula": des_total / formula_des if formula_des else 1.0,
            "savings_vs_ps_pct": 100 * (1 - des_total / r["ps_bytes"]),
            "savings_vs_mesh_pct": 100 * (1 - des_total / mesh_total) if mesh_total else 0.0,
            "sim_examples_per_s": sim["des"]["examples_per_s"], "loopback_step_ms": 1e3 * r["des_step_s"],
            **{f"test_{k}": v for k, v in r["des_test"].items()}}, wall_time_s=wall / len(ctx.seeds), config=common))
        runs.append(SeedRun("mesh", seed, {
            "max_abs_logit_diff_step0": r["mesh_diff_step0"], "max_abs_logit_diff_trained": r["mesh_diff_trained"],
            "wire_bytes_per_step": mesh_total, "formula_bytes_per_step": formula_mesh,
            "counted_over_formula": mesh_total / formula_mesh if formula_mesh else 1.0,
            "sim_examples_per_s": sim["mesh"]["examples_per_s"], "loopback_step_ms": 1e3 * r["mesh_step_s"]},
            config=common))
        runs.append(SeedRun("ps", seed, {"wire_bytes_per_step": r["ps_bytes"]}, config=common))
    models = {
        "des": {"description": "DES: each rank sums its tables' partials [z, S, q, h] for the whole batch (one "
                               "all-reduce per step, no backward communication)", "curves": curves,
                "payload_by_collective": first["des_payload"], "calls": first["des_calls"],
                "simulation": {str(s): v["des"] for s, v in sims.items()}},
        "mesh": {"description": "table-wise model parallelism moving embeddings: pooled vectors all-to-all forward "
                                "and back, dense gradients all-reduced", "payload_by_collective": first["mesh_payload"],
                 "calls": first["mesh_calls"], "simulation": {str(s): v["mesh"] for s, v in sims.items()}},
        "ps": {"description": "parameter server counted on the id stream (unique rows pulled and pushed per worker "
                              "and table, dense parameters pulled and pushed), not run"},
        "single": {"description": "the one-process DeepFM, plain SGD (the reference of the equivalence)"},
    }
    notes = [f"Real run: {workers} gloo process(es) on this machine, DeepFM (k={p.dim}, MLP {list(p.hidden)}) "
             f"over {features} tables, global batch {batch}, {first['steps']} SGD steps per seed; every rank reads "
             "the ids of its own tables for the whole batch (DES's data layout), so no ids cross the wire in DES or "
             "mesh." + (" A one-process world moves no bytes: the byte and speed claims need --nproc 2 or procs >= 2."
                        if workers == 1 else ""),
             "Bytes are wire bytes per training step summed over the ranks (ring all-reduce 2(N-1)/N, pairwise "
             "all-to-all (N-1)/N of the payload), counted by harness.cluster.comm.ByteCounter; PS bytes are counted "
             "on the same ids (unique rows per worker and table), no parameter server runs.",
             "Throughput is SIMULATED (harness.sim.training): compute service times measured here per method "
             "without communication, communication on a DECLARED "
             f"{p.link_gbps:g} Gbit/s, {p.link_latency_us:g} us link; the paper's cluster and its throughput numbers "
             "are not reproduced (transferred).",
             "Paper version pinned: v5 abstract ('up to 68.7% communication savings'); v1's 72.26-83% are not used."]
    return ExperimentResult(runs=runs, dataset=splits.manifest, protocol_notes=notes, models=models)


if __name__ == "__main__":
    worker_main(distributed_part)
