"""DMT (Luo et al., arXiv 2403.00877 v3): SPTT equivalence and bytes on real gloo ranks, tower quality, speed-up model.

Per seed:

* on a real ``hosts x local_ranks`` gloo world (``procs`` processes through torchrun, or the world of
  ``repro run dmt --nproc N``): one step (forward and backward of a fixed linear loss) of the flat
  table-wise lookup and of SPTT, without and with tower modules; outputs and table/TM gradients
  against the one-process model's on the same samples, and every collective counted by
  :class:`~harness.cluster.comm.ByteCounter`, split into intra-host and cross-host bytes and
  checked against the hand formulas (:func:`~papers.dmt.dmt.flat_wire_bytes`,
  :func:`~papers.dmt.dmt.sptt_wire_bytes`);
* quality (:func:`harness.study.run_study`): flat DLRM against DMT (towers aligned with the planted
  feature groups, TMs compressing ``compression``-fold) and DMT with random towers, on the synthetic
  teacher data;
* the speed-up of SPTT+TM over the flat all-to-all against the host count, SIMULATED with the
  two-level topology model (:class:`~harness.cluster.topology.Topology`, declared bandwidths) and a
  declared communication share: configuration arithmetic, shown as facts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from harness.cluster.comm import ByteCounter, count_collectives
from harness.cluster.exchange import FLOAT_BYTES, ID_BYTES, blocks, host_groups, seeds_on_world, worker_main
from harness.cluster.topology import Link, pairwise_all_to_all_s, Topology
from harness.data.api import Splits
from harness.data.profile import profile_splits
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.params import as_table, parse_params
from harness.study import Study, Variant, run_study, select_variants
from harness.train.distributed import World, main_first
from harness.train.trainer import TrainConfig, seed_everything
from papers.dmt.dmt import (TowerDLRM, flat_lookup, flat_rank, flat_wire_bytes, sptt_lookup, sptt_rank,
                            sptt_wire_bytes)
from papers.dmt.params import Params

MODULE = "papers.dmt.experiment"


# ------------------------------------------------------------------ towers and models

def aligned_towers(features: Sequence[str], towers: int, groups: int) -> list[list[str]]:
    """Towers holding whole planted groups: field j (group ``j % groups``) goes to tower ``(j % groups) % towers``."""
    return [[f for j, f in enumerate(features) if (j % groups) % towers == t] for t in range(towers)]


def random_towers(features: Sequence[str], towers: int, groups: int, seed: int) -> list[list[str]]:
    """Towers of the aligned towers' sizes filled with a random permutation of the fields (seeded)."""
    sizes = [len(t) for t in aligned_towers(features, towers, groups)]
    order = [features[i] for i in np.random.default_rng(seed).permutation(len(features))]
    cuts = np.cumsum([0, *sizes])
    return [sorted(order[cuts[t]:cuts[t + 1]], key=list(features).index) for t in range(towers)]


def tower_outputs(towers: Sequence[Sequence[str]], compression: int) -> list[int]:
    """Vectors each TM emits: ``ceil(F_t / compression)``."""
    return [math.ceil(len(t) / compression) for t in towers]


def build_tower_dlrm(p: Params, sizes: dict[str, int], towers: list[list[str]], with_tms: bool) -> TowerDLRM:
    """A :class:`TowerDLRM` over `towers` (with TMs compressing ``p.compression``-fold, or without TMs)."""
    return TowerDLRM(towers, sizes, p.dim, p.bottom, p.top, tower_outputs(towers, p.compression) if with_tms else None)


def variants(p: Params, towers: int) -> dict[str, Variant]:
    """Flat DLRM, DMT with group-aligned towers and DMT with random towers, one recipe."""
    config = TrainConfig(epochs=p.epochs, lr=p.lr, optimizer="adam", sparse_optimizer="rowwise_adagrad",
                         sparse_lr=p.sparse_lr)
    recorded = {"lr": p.lr, "sparse_lr": p.sparse_lr, "batch_size": p.batch_size, "epochs": p.epochs}

    def flat(splits: Splits) -> nn.Module:
        sizes = splits.table_sizes
        return DLRM.from_tables(list(p.bottom), list(p.top), make_tables(list(sizes), list(sizes.values()), p.dim))

    def dmt(randomised: bool) -> Any:
        def build(splits: Splits) -> nn.Module:
            names = list(splits.table_sizes)
            split = (random_towers(names, towers, p.groups, seed=int(torch.initial_seed()) % 2**32) if randomised
                     else aligned_towers(names, towers, p.groups))
            return build_tower_dlrm(p, splits.table_sizes, split, with_tms=True)
        return build

    out = {
        "flat": Variant(f"flat DLRM, dim {p.dim}, bottom {list(p.bottom)}, top {list(p.top)}", build=flat,
                        train=config, config=recorded),
        "dmt": Variant(f"DMT: {towers} towers holding whole planted groups, TMs {p.compression}-fold compression",
                       build=dmt(False), train=config, config=recorded),
        "dmt_random": Variant(f"DMT with {towers} random towers of the same sizes, TMs {p.compression}-fold",
                              build=dmt(True), train=config, config=recorded),
    }
    return select_variants(out, p.models, "dmt: parameter 'models'")


def _towers_of_world(p: Params) -> tuple[int, int]:
    """(hosts, local ranks) of the real run: the current torchrun world's, or the profile's."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        world = dist.get_world_size()
        local = p.local_ranks if world % p.local_ranks == 0 and world > p.local_ranks else 1
        return world // local, local
    if p.procs == 1:
        return 1, 1
    return p.hosts, p.local_ranks


def study(ctx: ExperimentContext) -> Study:
    """The quality variants on the profile's data (module-level for --jobs workers)."""
    p: Params = ctx.params
    hosts, _ = _towers_of_world(p)
    return Study(variants=variants(p, max(hosts, 2)),
                 data=lambda source, seed: profile_splits(ctx.data_dir, ctx.work_dir, as_table(p), seed))


# ------------------------------------------------------------------ the real distributed step

def _ids(batch: Any) -> torch.Tensor:
    kjt = batch.sparse_features
    if not bool((kjt.lengths() == 1).all()):
        raise ValueError("the tower exchange expects one id per sample and feature (Criteo-style data)")
    return kjt.values().view(len(kjt.keys()), -1).T.contiguous()


def _grad(param: torch.Tensor) -> torch.Tensor:
    assert param.grad is not None, "the step's backward reached every parameter"
    return param.grad


def _relative_difference(got: torch.Tensor, reference: torch.Tensor) -> float:
    """``max |got - reference| / max |reference|``: gradients are sums over the batch, so fp32 agreement is relative."""
    return float((got - reference).abs().max() / reference.abs().max().clamp_min(1e-30))


def _linear_loss(outputs: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
    return (outputs * probe).sum()


def _reduce(value: float, op: Any = dist.ReduceOp.SUM) -> float:
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t, op=op)
    return float(t.item())


def _reduce_links(counter: ByteCounter, local_ranks: int) -> dict[str, float]:
    links = counter.wire_by_link(local_ranks)
    return {k: _reduce(v) for k, v in links.items()}


def _seed_part(p: Params, data_dir: Path, work_dir: Path, seed: int) -> dict[str, Any]:
    rank, world = dist.get_rank(), dist.get_world_size()
    hosts, local = _towers_of_world(p) if world > 1 else (1, 1)
    groups = host_groups(hosts, local)
    with main_first(World(rank, world, torch.device("cpu"))):
        splits = profile_splits(data_dir, work_dir, {**as_table(p), "batch_size": p.exchange_batch}, seed)
    splits.train.set_epoch(0)
    batch = next(iter(splits.train))
    features = list(splits.table_sizes)
    towers = aligned_towers(features, hosts, p.groups)
    b = p.exchange_batch // world
    ids_all = _ids(batch)
    mine = ids_all[rank * b:(rank + 1) * b]
    out: dict[str, Any] = {}
    for with_tms in (False, True):
        seed_everything(seed)
        model = build_tower_dlrm(p, splits.table_sizes, towers, with_tms)
        gen = torch.Generator().manual_seed(seed)
        widths = model.output_widths()
        probe = torch.randn(p.exchange_batch, sum(widths), generator=gen)
        reference = model.tower_outputs(batch.sparse_features)
        flat_reference = torch.cat([r.reshape(r.shape[0], -1) for r in reference], dim=1)
        _linear_loss(flat_reference, probe).backward()
        grads = {f"{t}.{n.split('.')[-2]}": _grad(prm) for t in range(len(towers))
                 for n, prm in model.tower_tables(t).named_parameters()}
        tm_grads = {n: _grad(prm) for n, prm in model.tower_modules.named_parameters()} \
            if model.tower_modules is not None else {}
        tag = "sptt_tm" if with_tms else "sptt"
        part = sptt_rank(model, features, groups)
        counter = ByteCounter()
        with count_collectives(counter):
            outputs = torch.cat(sptt_lookup(part, mine), dim=1)
            _linear_loss(outputs, probe[rank * b:(rank + 1) * b]).backward()
            if part.tower_module is not None and local > 1:
                for prm in part.tower_module.parameters():
                    dist.all_reduce(_grad(prm), group=groups.intra)
        expected = flat_reference.detach()[rank * b:(rank + 1) * b]
        out[f"{tag}_diff"] = _reduce(float((outputs.detach() - expected).abs().max()), dist.ReduceOp.MAX)
        tower = groups.host
        pairs = [(_grad(prm), grads[f"{tower}.{name.split('.')[-2]}"]) for name, prm in part.tables.named_parameters()]
        if part.tower_module is not None:
            pairs += [(_grad(prm), tm_grads[f"{tower}.{name}"]) for name, prm in part.tower_module.named_parameters()]
        out[f"{tag}_grad_diff"] = _reduce(max(_relative_difference(g, ref) for g, ref in pairs), dist.ReduceOp.MAX)
        out[f"{tag}_links"] = _reduce_links(counter, local)
        tm_bytes = [sum(q.numel() * q.element_size() for q in tm.parameters()) for tm in model.tower_modules] \
            if model.tower_modules is not None else []
        out[f"{tag}_formula"] = sptt_wire_bytes(p.exchange_batch, [len(t) for t in towers], widths, p.dim, local,
                                                tm_bytes)
        if not with_tms:
            flat = flat_rank(model, features, rank, world)
            counter = ByteCounter()
            flat_probe = probe[:, _tower_to_data_columns(towers, features, p.dim)]
            with count_collectives(counter):
                pooled = flat_lookup(flat, mine)
                _linear_loss(pooled, flat_probe[rank * b:(rank + 1) * b]).backward()
            ref_flat = flat_reference[:, _data_to_tower_columns(towers, features, p.dim)]
            expected = ref_flat.detach()[rank * b:(rank + 1) * b]
            out["flat_diff"] = _reduce(float((pooled.detach() - expected).abs().max()), dist.ReduceOp.MAX)
            out["flat_links"] = _reduce_links(counter, local)
            out["flat_formula"] = flat_wire_bytes(p.exchange_batch, [len(x) for x in blocks(len(features), world)],
                                                  p.dim, local)
    out.update({"hosts": hosts, "local_ranks": local, "world": world, "features": len(features),
                "towers": [len(t) for t in towers], "batch": p.exchange_batch})
    return out


def _tower_order(towers: Sequence[Sequence[str]], features: Sequence[str]) -> list[int]:
    index = {f: i for i, f in enumerate(features)}
    return [index[f] for t in towers for f in t]


def _data_to_tower_columns(towers: Sequence[Sequence[str]], features: Sequence[str], dim: int) -> list[int]:
    """Columns of a tower-ordered ``[B, F d]`` tensor that give data feature order."""
    position = {f: i for i, f in enumerate(_tower_order(towers, features))}
    return [position[j] * dim + c for j in range(len(features)) for c in range(dim)]


def _tower_to_data_columns(towers: Sequence[Sequence[str]], features: Sequence[str], dim: int) -> list[int]:
    """Columns of a data-ordered ``[B, F d]`` tensor that give tower order (the inverse permutation)."""
    return [j * dim + c for j in _tower_order(towers, features) for c in range(dim)]


def distributed_part(payload: dict[str, Any]) -> dict[str, Any]:
    """Every seed's exchange step on this rank (the torchrun entry point, through :func:`world_result`)."""
    p = parse_params(Params, payload["params"], "papers/dmt/paper.toml params")
    torch.set_num_threads(1)
    return {str(seed): _seed_part(p, Path(payload["data_dir"]), Path(payload["work_dir"]), seed)
            for seed in payload["seeds"]}


# ------------------------------------------------------------------ the simulated speed-up

def speedup_curve(p: Params) -> list[dict[str, float]]:
    """SIMULATED step time of the flat all-to-all and of SPTT+TM per host count (all durations declared).

    Per rank and step (``b`` samples, ``F`` features, dimension ``d``, ``H`` hosts of ``L`` ranks,
    towers of ``F / H`` features compressed ``c``-fold): flat = the ids (``b F`` int64) and the pooled
    vectors forward and back (``b F d`` floats each) through a world-wide pairwise all-to-all
    (:meth:`Topology.all_to_all_s`); SPTT+TM = the ids cross-host among the ``H`` peers, then
    intra-host ids and pooled vectors forward and back among the ``L`` local ranks, then the
    compressed outputs (``b F d / c`` floats, forward and back) cross-host. The compute time is fixed
    so that communication is `comm_share` of the flat step at the smallest host count.
    """
    intra = Link(p.intra_latency_us * 1e-6, p.intra_gbytes * 1e9)
    inter = Link(p.inter_latency_us * 1e-6, p.inter_gbytes * 1e9)
    b, f, d, local = p.sim_batch_per_rank, p.sim_features, p.sim_dim, p.sim_local_ranks
    ids, pooled = b * f * ID_BYTES, b * f * d * FLOAT_BYTES
    rows = []
    for hosts in p.sim_hosts:
        cluster = Topology(hosts=hosts, local_ranks=local, intra=intra, inter=inter)
        flat = cluster.all_to_all_s(ids) + 2 * cluster.all_to_all_s(pooled)
        sptt = (pairwise_all_to_all_s(inter, hosts, ids) + pairwise_all_to_all_s(intra, local, ids)
                + 2 * pairwise_all_to_all_s(intra, local, pooled)
                + 2 * pairwise_all_to_all_s(inter, hosts, pooled / p.compression))
        rows.append({"hosts": hosts, "flat_comm_s": flat, "sptt_tm_comm_s": sptt})
    compute = rows[0]["flat_comm_s"] * (1 - p.comm_share) / p.comm_share
    for row in rows:
        row["compute_s"] = compute
        row["speedup"] = (compute + row["flat_comm_s"]) / (compute + row["sptt_tm_comm_s"])
    return rows


# ------------------------------------------------------------------ the run

def run(ctx: ExperimentContext) -> ExperimentResult:
    """The real exchange step per seed, the quality study, the speed-up model."""
    p: Params = ctx.params
    ctx.progress.log(f"DMT: SPTT and flat exchange on gloo processes ({p.procs} unless under torchrun)")
    per_seed, wall = seeds_on_world(ctx, distributed_part, MODULE, p.procs, as_table(p))
    quality = run_study(ctx, study)
    curve = speedup_curve(p)
    runs = list(quality.runs)
    for seed in ctx.seeds:
        r = per_seed[str(seed)]
        common = {"world_size": r["world"], "hosts": r["hosts"], "local_ranks": r["local_ranks"], "batch": r["batch"]}
        for tag in ("flat", "sptt", "sptt_tm"):
            links, formula = r[f"{tag}_links"], r[f"{tag}_formula"]
            metrics = {"max_abs_output_diff": r[f"{tag}_diff"],
                       "inter_bytes_per_step": links["inter"], "intra_bytes_per_step": links["intra"],
                       "inter_formula_bytes": formula["inter"], "intra_formula_bytes": formula["intra"],
                       "counted_over_formula": ((links["inter"] + links["intra"]) / (formula["inter"] + formula["intra"])
                                                if formula["inter"] + formula["intra"] else 1.0)}
            if f"{tag}_grad_diff" in r:
                metrics["max_rel_grad_diff"] = r[f"{tag}_grad_diff"]
            runs.append(SeedRun(tag, seed, metrics, wall_time_s=wall / len(ctx.seeds), config=common))
        flat_inter = r["flat_links"]["inter"]
        runs[-1].metrics["inter_vs_flat"] = r["sptt_tm_links"]["inter"] / flat_inter if flat_inter else 1.0
        runs.append(SeedRun("sim", seed, {f"speedup_{row['hosts']}_hosts": row["speedup"] for row in curve}
                            | {"max_speedup": max(row["speedup"] for row in curve)}))
    first = per_seed[str(ctx.seeds[0])]
    models = dict(quality.models)
    models.update({
        "flat": {**models.get("flat", {}), "exchange": "table-wise over the whole world: ids and pooled vectors "
                                                      "all-to-all among all ranks"},
        "sptt": {"description": "SPTT without tower modules: peer cross-host ids, intra-host lookups, pooled "
                                "vectors back cross-host (semantic-preserving)"},
        "sptt_tm": {"description": f"SPTT with tower modules ({p.compression}-fold compression of each tower)"},
        "sim": {"description": "SIMULATED speed-up of SPTT+TM over the flat all-to-all (declared bandwidths and "
                               "communication share)", "curve": curve},
    })
    notes = [f"Real exchange step: {first['hosts']} host(s) x {first['local_ranks']} rank(s) = {first['world']} gloo "
             f"process(es) on this 2-core machine (hosts are simulated by process groups; correctness and bytes "
             f"only, no speed), global batch {first['batch']}, {first['features']} features in towers "
             f"{first['towers']} aligned with the data's {p.groups} planted groups."
             + (" A one-process world moves no bytes: the byte claims need procs >= 2 or --nproc." if first["world"] == 1
                else ""),
             "Bytes are wire bytes per step summed over the ranks, counted by harness.cluster.comm.ByteCounter and "
             "split by destination host; the hand formulas are papers/dmt/dmt.py flat_wire_bytes / sptt_wire_bytes.",
             f"Speed-up vs hosts is SIMULATED from configuration only (harness.cluster.topology, {p.sim_local_ranks} "
             f"GPUs/host, DECLARED {p.intra_gbytes:g} / {p.inter_gbytes:g} GB/s intra / cross-host from TorchRec's "
             f"planner constants, communication {100 * p.comm_share:g}% of the flat step at {p.sim_hosts[0]} hosts, "
             "an unverified secondary figure): a fact, not evidence; the paper's 'up to 1.9x' is transferred.",
             "The Tower Partitioner (learned grouping) is not implemented: 'dmt' uses towers aligned with the planted "
             "groups (an oracle grouping), 'dmt_random' random towers of the same sizes."]
    return ExperimentResult(runs=runs, dataset=quality.first_data().manifest, protocol_notes=notes, models=models)


if __name__ == "__main__":
    worker_main(distributed_part)
