"""Collective communication over torch.distributed: measured alpha-beta fits and a per-step byte counter.

Calibration. :func:`calibrate` runs inside an initialised process group (gloo on CPU): for each
collective of :data:`~harness.cluster.topology.COLLECTIVES` and each message size it times repeated
calls (the slowest rank's median), then fits ``time = alpha + bytes / bandwidth``
(:func:`fit_alpha_beta`, least squares on the *relative* error, so that small messages fix alpha and
large ones the bandwidth). "bytes" is always the per-rank input buffer (all-gather: each rank's
contribution; all-to-all: each rank's whole send buffer). The result is JSON-ready, for a run
record. ``python -m harness.cluster.comm --nproc 2 --out fit.json`` launches itself under
``torch.distributed.run`` (torchrun) and writes the fit.

Byte counting. Inside :func:`count_collectives`, every call of ``torch.distributed.all_reduce``,
``broadcast``, ``all_gather``, ``all_gather_single`` (and its older name ``all_gather_into_tensor``),
``all_to_all_single``,
``reduce_scatter_tensor``, ``send`` and ``isend`` made through the ``torch.distributed`` module is recorded in a
:class:`ByteCounter` (collective, per-rank payload bytes, world size, wire bytes under the ring /
pairwise algorithms of :mod:`harness.cluster.topology`), then performed as usual. DDP's built-in
reducer runs in C++ and is invisible to it; register torch's Python ``allreduce_hook``
(``ddp.register_comm_hook(None, allreduce_hook)``, same numerics) to count DDP's buckets.
Simulated collectives (:mod:`harness.cluster.virtual`) record into the same counter.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from scipy.optimize import nnls

from harness.atomic import write_json
from harness.cluster.topology import COLLECTIVES, Link, Topology, ring_wire_bytes
from harness.errors import ConfigError

DEFAULT_SIZES = tuple(4096 * 4**k for k in range(7))  # 4 KiB .. 16 MiB
DEFAULT_REPEATS = 7
SMALL_MESSAGE = 1 << 20  # messages up to 1 MiB are cheap: timed 5x as often, their medians are noisier
WARMUP = 3


# ------------------------------------------------------------------ byte counter

@dataclass(frozen=True)
class Traffic:
    """One collective call: its name, the per-rank payload (input) bytes, the world size and the wire bytes per rank.

    Calls counted inside a process group also carry the group's global `ranks` and the caller's
    global rank `source`; an all-to-all with explicit splits carries the bytes `sent` to each rank
    of the group (its own share stays local), so its wire bytes are exact for uneven splits and
    :meth:`ByteCounter.wire_by_link` can tell intra-host from cross-host bytes.
    """

    collective: str
    payload_bytes: int
    world: int
    wire_bytes: float
    phase: str = ""
    ranks: tuple[int, ...] = ()
    source: int = -1
    sent: tuple[int, ...] = ()


@dataclass
class ByteCounter:
    """Bytes moved by collectives, call by call (:class:`Traffic`), optionally tagged with a phase."""

    records: list[Traffic] = field(default_factory=list)
    phase: str = ""

    def record(self, collective: str, payload_bytes: int, world: int, ranks: Sequence[int] = (), source: int = -1,
               sent: Sequence[int] = ()) -> None:
        """Add one call of `collective` (see :data:`~harness.cluster.topology.COUNTED`; ``send`` for a
    point-to-point message, e.g. a simulated parameter-server push) with `payload_bytes` per rank;
    `ranks`, `source` and `sent` as in :class:`Traffic`."""
        if sent and source in ranks:
            wire = float(sum(sent) - sent[list(ranks).index(source)])
        else:
            wire = ring_wire_bytes(collective, world, payload_bytes)
        self.records.append(Traffic(collective, int(payload_bytes), world, wire, self.phase, tuple(ranks), source,
                                    tuple(sent)))

    @contextlib.contextmanager
    def tagged(self, phase: str) -> Iterator[None]:
        """Tag the calls recorded inside the block with `phase` (e.g. ``forward``, ``sync``)."""
        before, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = before

    def payload_by_collective(self) -> dict[str, int]:
        """Total payload bytes per collective name."""
        out: dict[str, int] = defaultdict(int)
        for r in self.records:
            out[r.collective] += r.payload_bytes
        return dict(out)

    def wire_total(self, phase: str | None = None) -> float:
        """Wire bytes per rank over every call (of `phase`, if given)."""
        return sum(r.wire_bytes for r in self.records if phase is None or r.phase == phase)

    def wire_by_link(self, local_ranks: int) -> dict[str, float]:
        """Wire bytes of this rank split into ``intra`` (same host) and ``inter`` (cross-host), ranks host-major.

        An all-to-all with per-rank bytes is split exactly by destination; another call inside a
        group whose ranks share a host is intra-host, one whose ranks are on distinct hosts is
        cross-host; a ring over several hosts with several ranks each is split by the share of its
        ring hops (consecutive ranks, cyclically) that cross hosts.
        """
        out = {"intra": 0.0, "inter": 0.0}
        for r in self.records:
            if not r.ranks:
                raise ConfigError("wire_by_link needs calls counted inside a process group (count_collectives)")
            hosts = [rank // local_ranks for rank in r.ranks]
            if r.sent:
                me = r.source // local_ranks
                for host, nbytes, rank in zip(hosts, r.sent, r.ranks):
                    if rank != r.source:
                        out["intra" if host == me else "inter"] += nbytes
                continue
            crossing = sum(a != b for a, b in zip(hosts, hosts[1:] + hosts[:1])) / len(hosts)
            out["inter"] += r.wire_bytes * crossing
            out["intra"] += r.wire_bytes * (1 - crossing)
        return out

    def calls(self) -> dict[str, int]:
        """Number of calls per collective name."""
        out: dict[str, int] = defaultdict(int)
        for r in self.records:
            out[r.collective] += 1
        return dict(out)


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def _group_size(kwargs: dict[str, Any]) -> int:
    return dist.get_world_size(kwargs.get("group"))


# (collective name in the counter, index of the argument whose bytes are the per-rank payload)
_COUNTED: dict[str, tuple[str, int]] = {
    "all_reduce": ("all_reduce", 0),
    "broadcast": ("broadcast", 0),
    "all_gather": ("all_gather", 1),
    "all_gather_into_tensor": ("all_gather", 1),
    "all_gather_single": ("all_gather", 1),
    "all_to_all_single": ("all_to_all", 1),
    "reduce_scatter_tensor": ("reduce_scatter", 1),
    "send": ("send", 0),
    "isend": ("send", 0),
}


@contextlib.contextmanager
def count_collectives(counter: ByteCounter) -> Iterator[ByteCounter]:
    """Record every collective called through ``torch.distributed.<name>`` inside the block into `counter`."""
    originals: dict[str, Callable[..., Any]] = {name: getattr(dist, name) for name in _COUNTED}

    def wrap(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        collective, position = _COUNTED[name]

        def counted(*args: Any, **kwargs: Any) -> Any:
            group = kwargs.get("group")
            ranks = tuple(dist.get_process_group_ranks(group if group is not None else dist.group.WORLD))
            payload = args[position]
            splits = kwargs.get("input_split_sizes") if name == "all_to_all_single" else None
            sent = ()
            if splits:
                row = payload.numel() // max(payload.shape[0], 1) * payload.element_size()
                sent = tuple(int(s) * row for s in splits)
            counter.record(collective, _nbytes(payload), _group_size(kwargs), ranks, dist.get_rank(), sent)
            return original(*args, **kwargs)
        return counted

    try:
        for name, original in originals.items():
            setattr(dist, name, wrap(name, original))
        yield counter
    finally:
        for name, original in originals.items():
            setattr(dist, name, original)


# ------------------------------------------------------------------ calibration

@dataclass(frozen=True)
class CollectiveFit:
    """``time = alpha + bytes / bandwidth`` fitted for one collective, with the points it was fitted on."""

    collective: str
    world: int
    alpha_s: float
    bandwidth_bytes_per_s: float
    max_relative_error: float
    sizes: list[int]
    median_s: list[float]

    def predict_s(self, nbytes: float) -> float:
        """The fitted time of one call on `nbytes` per rank."""
        return self.alpha_s + nbytes / self.bandwidth_bytes_per_s

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def fit_alpha_beta(sizes: Sequence[float], seconds: Sequence[float]) -> tuple[float, float, float]:
    """(alpha in s, bandwidth in bytes/s, max relative error) of ``t = alpha + n / bw`` through the points.

    Non-negative least squares on ``alpha/t + n (1/bw)/t = 1`` (relative residuals), so that a
    100x larger time does not outweigh the small messages that determine alpha.
    """
    n, t = np.asarray(sizes, dtype=np.float64), np.asarray(seconds, dtype=np.float64)
    if len(n) < 2 or len(np.unique(n)) < 2:
        raise ConfigError(f"an alpha-beta fit needs at least two distinct message sizes, got {list(sizes)}")
    (alpha, inv_bw), _ = nnls(np.stack([1 / t, n / t], axis=1), np.ones_like(t))
    if inv_bw <= 0:
        raise ConfigError(f"the measured times {list(seconds)} do not grow with the message size {list(sizes)}; "
                          f"use larger messages (at least 1 MiB) to fit a bandwidth")
    error = float(np.max(np.abs(alpha + n * inv_bw - t) / t))
    return float(alpha), float(1 / inv_bw), error


def _elements(nbytes: int, world: int) -> int:
    """float32 elements of a `nbytes` message, rounded down to a multiple of the world size (at least one per rank)."""
    return max(world, nbytes // 4 // world * world)


def _buffers(collective: str, nbytes: int, world: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(input, output) float32 buffers of one call of about `nbytes` per rank."""
    elems = _elements(nbytes, world)
    src = torch.ones(elems, dtype=torch.float32)
    if collective == "all_gather":
        return src, torch.empty(elems * world, dtype=torch.float32)
    if collective == "all_to_all":
        return src, torch.empty(elems, dtype=torch.float32)
    return src, None


def _call(collective: str, src: torch.Tensor, out: torch.Tensor | None) -> None:
    if collective == "all_reduce":
        dist.all_reduce(src)
    elif collective == "broadcast":
        dist.broadcast(src, src=0)
    elif collective == "all_gather":
        dist.all_gather_single(out, src)
    elif collective == "all_to_all":
        dist.all_to_all_single(out, src)
    else:
        raise ConfigError(f"unknown collective {collective!r}; known: {', '.join(COLLECTIVES)}")


def time_collective(collective: str, nbytes: int, repeats: int = DEFAULT_REPEATS) -> float:
    """Median seconds of one call of `collective` on `nbytes` per rank, the slowest rank's (all ranks must call)."""
    world = dist.get_world_size()
    src, out = _buffers(collective, nbytes, world)
    times = []
    repeats = repeats * 5 if nbytes <= SMALL_MESSAGE else repeats
    for i in range(WARMUP + repeats):
        dist.barrier()
        start = time.perf_counter()
        _call(collective, src, out)
        if i >= WARMUP:
            times.append(time.perf_counter() - start)
    slowest = torch.tensor([statistics.median(times)], dtype=torch.float64)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    return float(slowest.item())


def calibrate(sizes: Sequence[int] = DEFAULT_SIZES, repeats: int = DEFAULT_REPEATS,
              collectives: Sequence[str] = COLLECTIVES) -> dict[str, Any]:
    """Fit alpha and bandwidth of each collective in the current process group (every rank calls it).

    Returns ``{"world", "backend", "threads", "torch", "load_average_1min", "fits": {collective:
    CollectiveFit.as_dict()}}``; the machine's load is recorded because on a shared machine it moves
    the fit (2 processes on a 2-core machine at load ~3 vs ~12: all-reduce bandwidth 1.3 vs 0.9 GB/s).
    """
    if not dist.is_initialized():
        raise ConfigError("calibrate() needs an initialised process group: run it under torchrun "
                          "(`python -m harness.cluster.comm --nproc 2`) after harness.train.distributed.init_from_env()")
    world = dist.get_world_size()
    for collective in collectives:  # first calls set up gloo's buffers and pairs: not timed
        time_collective(collective, min(sizes), 1)
    fits = {}
    for collective in collectives:
        actual = [_elements(n, world) * 4 for n in sizes]
        medians = [time_collective(collective, n, repeats) for n in actual]
        alpha, bandwidth, error = fit_alpha_beta(actual, medians)
        fits[collective] = CollectiveFit(collective, world, alpha, bandwidth, error, actual, medians).as_dict()
    return {"world": world, "backend": dist.get_backend(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "load_average_1min": os.getloadavg()[0], "fits": fits}


def fit_from_dict(payload: dict[str, Any], collective: str) -> CollectiveFit:
    """The :class:`CollectiveFit` of `collective` in a :func:`calibrate` result."""
    return CollectiveFit(**payload["fits"][collective])


def link_from_all_reduce(fit: CollectiveFit) -> Link:
    """The per-link (alpha, bandwidth) that makes the ring all-reduce formula reproduce `fit`.

    Ring all-reduce on ``p`` ranks costs ``2(p-1) alpha_link + 2(p-1)/p n / bw_link``
    (:func:`~harness.cluster.topology.ring_all_reduce_s`), so ``alpha_link = alpha / (2(p-1))`` and
    ``bw_link = bandwidth x 2(p-1)/p``. The other collectives' fits then test the model.
    """
    p = fit.world
    if p < 2:
        raise ConfigError("a link cannot be inferred from a one-rank all-reduce")
    return Link(fit.alpha_s / (2 * (p - 1)), fit.bandwidth_bytes_per_s * 2 * (p - 1) / p)


def loopback_topology(payload: dict[str, Any]) -> Topology:
    """One host with the calibrated world's ranks, its link inferred from the measured all-reduce."""
    link = link_from_all_reduce(fit_from_dict(payload, "all_reduce"))
    return Topology(hosts=1, local_ranks=int(payload["world"]), intra=link, inter=link)


# ------------------------------------------------------------------ entry point

def launch(nproc: int, out: Path, sizes: Sequence[int] = DEFAULT_SIZES, repeats: int = DEFAULT_REPEATS,
           port: int = 29533, timeout_s: float = 600) -> dict[str, Any]:
    """Run the calibration on `nproc` local processes through torchrun (gloo, one thread each); returns the fit."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
               "--master-port", str(port), "-m", "harness.cluster.comm", "--worker", "--out", str(out),
               "--repeats", str(repeats), "--sizes", *map(str, sizes)]
    subprocess.run(command, env=env, check=True, timeout=timeout_s)
    return json.loads(Path(out).read_text())


def _worker(out: Path, sizes: Sequence[int], repeats: int) -> None:
    """One torchrun worker: join the group, calibrate, rank 0 writes the result."""
    from harness.train.distributed import init_from_env

    torch.set_num_threads(1)
    world = init_from_env()
    result = calibrate(sizes, repeats)
    if world.is_main:
        write_json(out, result)
    dist.destroy_process_group()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m harness.cluster.comm [--nproc N] [--out FILE] [--sizes ...] [--repeats R]``: fit and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="local processes (default 2)")
    parser.add_argument("--out", type=Path, default=Path("gloo-fit.json"), help="where the JSON fit goes")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="message sizes in bytes")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="timed calls per size")
    parser.add_argument("--port", type=int, default=29533, help="torchrun master port")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.out, args.sizes, args.repeats)
        return
    result = launch(args.nproc, args.out, args.sizes, args.repeats, args.port)
    for name, fit in result["fits"].items():
        print(f"{name:>12}: alpha {fit['alpha_s'] * 1e6:9.1f} us   bandwidth {fit['bandwidth_bytes_per_s'] / 1e9:7.3f} GB/s"
              f"   max rel. error {fit['max_relative_error']:.2f}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
