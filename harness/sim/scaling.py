"""Scaling sweeps of the cluster simulator: throughput against workers or parameter-server shards.

The distributed-training papers ask the same simulated questions with different synchronisation
models: how do examples/s grow with the number of workers (ShadowSync's "linear scaling",
arXiv 2003.03477, abstract; the data-parallel guidelines' number of GPUs, arXiv 1709.06622
unconfirmed), and how many parameter-server shards does a cluster need before communication stops
being the bottleneck (the guidelines' parameter-server lemma)? The functions here run
:func:`harness.sim.training.simulate` over such a sweep with the same service times, so every
point of a curve says what was measured (:class:`~harness.sim.service.ServiceTime` sources).

Communication times for N workers come from the gloo fit of this machine: the per-link latency and
bandwidth that reproduce the measured 2-rank all-reduce (:func:`harness.cluster.comm.link_from_all_reduce`)
put into the ring formula for N ranks (:func:`all_reduce_service`); a parameter-server push and pull
of S bytes is two point-to-point messages, timed by the measured broadcast fit between two ranks
(:func:`push_pull_service`). With a *declared* fit (no calibration run, e.g. a smoke profile) every
derived time is declared, with the fit's citation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch.distributed as dist

from harness.cluster.comm import calibrate, fit_from_dict, launch, link_from_all_reduce
from harness.cluster.topology import Topology
from harness.errors import ConfigError
from harness.sim.service import ServiceTime
from harness.sim.training import ClusterConfig, simulate

DECLARED_FIT_SOURCE = ("harness/cluster/README.md, 'Measured on this machine' (2 gloo ranks, load ~3): all_reduce "
                       "250 us + bytes / 1.31 GB/s, broadcast 116 us + bytes / 3.12 GB/s; declared, not re-measured "
                       "in this run")
DECLARED_FIT: dict[str, Any] = {
    "world": 2, "backend": "gloo", "declared": DECLARED_FIT_SOURCE,
    "fits": {
        "all_reduce": {"collective": "all_reduce", "world": 2, "alpha_s": 250e-6, "bandwidth_bytes_per_s": 1.31e9,
                       "max_relative_error": 0.0, "sizes": [], "median_s": []},
        "broadcast": {"collective": "broadcast", "world": 2, "alpha_s": 116e-6, "bandwidth_bytes_per_s": 3.12e9,
                      "max_relative_error": 0.0, "sizes": [], "median_s": []},
    },
}
CALIBRATION_SIZES = tuple(16384 * 4**k for k in range(5))  # 16 KiB .. 4 MiB per rank


def gloo_fit(kind: str, work_dir: Path, port: int = 29541) -> dict[str, Any]:
    """The alpha-beta fit of this machine's gloo collectives: ``measured`` or ``declared`` (:data:`DECLARED_FIT`).

    Measured inside the running process group when there is one of two or more ranks (every rank
    must call this), else on 2 torchrun processes started for it (:func:`harness.cluster.comm.launch`,
    about 10-25 s).
    """
    if kind == "declared":
        return DECLARED_FIT
    if kind != "measured":
        raise ConfigError(f"comm_fit must be 'measured' or 'declared', got {kind!r}")
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return calibrate(CALIBRATION_SIZES, repeats=5, collectives=("all_reduce", "broadcast"))
    return launch(2, work_dir / "gloo-fit.json", sizes=CALIBRATION_SIZES, repeats=5, port=port)


def _service(seconds: float, fit: dict[str, Any], how: str) -> ServiceTime:
    """A time derived from `fit`: measured when the fit was measured in this run, declared otherwise."""
    if "declared" in fit:
        return ServiceTime(seconds, "declared", f"{how}, from {fit['declared']}")
    return ServiceTime(seconds, "measured", f"{how}, from the gloo fit measured in this run on this machine "
                                            f"(load {fit.get('load_average_1min', float('nan')):.1f})")


def all_reduce_service(fit: dict[str, Any], workers: int, nbytes: float) -> ServiceTime:
    """One ring all-reduce of `nbytes` over `workers` ranks on the link inferred from the 2-rank fit."""
    if workers == 1:
        return ServiceTime(0.0, "declared", "one worker: nothing to all-reduce")
    link = link_from_all_reduce(fit_from_dict(fit, "all_reduce"))
    seconds = Topology(hosts=workers, local_ranks=1, intra=link, inter=link).all_reduce_s(nbytes)
    return _service(seconds, fit, f"ring all-reduce of {nbytes:.0f} B over {workers} ranks (link alpha "
                                  f"{link.latency_s:.3g} s, {link.bandwidth_bytes_per_s:.3g} B/s)")


def push_pull_service(fit: dict[str, Any], nbytes: float) -> ServiceTime:
    """A parameter-server push and pull of `nbytes`: two messages, each timed by the 2-rank broadcast fit."""
    seconds = 2 * fit_from_dict(fit, "broadcast").predict_s(nbytes)
    return _service(seconds, fit, f"push + pull of {nbytes:.0f} B = 2 x the 2-rank broadcast time")


@dataclass(frozen=True)
class ScalingPoint:
    """One simulated cluster size: throughput, scaling efficiency against one worker, loop stalls, sync gap."""

    workers: int
    ps_shards: int
    examples_per_s: float
    efficiency: float
    stall_fraction: float
    iterations_per_sync: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _run(workers: int, compute: ServiceTime, sync: ServiceTime, mode: str, batch_size: int, horizon_s: float,
         every: int, ps_shards: int, jitter: bool, seed: int) -> tuple[float, float, float]:
    config = ClusterConfig(workers=workers, compute=(compute,), sync=sync, mode=mode, batch_size=batch_size,
                           every=every, ps_shards=ps_shards, jitter=jitter, seed=seed)
    result = simulate(config, horizon_s)
    stall = sum(result.stall_s) / (workers * horizon_s)
    return result.examples_per_s, stall, result.iterations_per_sync


def sweep_workers(workers: Sequence[int], compute: ServiceTime, sync_for: Callable[[int], ServiceTime], mode: str,
                  batch_size: int, iterations: int = 200, every: int = 1, jitter: bool = False,
                  seed: int = 0) -> list[ScalingPoint]:
    """Simulated throughput of 1 and each of `workers` data-parallel workers, each point's efficiency
    ``EPS(N) / (N EPS(1))`` against the simulated single worker.

    `sync_for(N)` gives the synchronisation time for N workers (:func:`all_reduce_service`); the
    horizon is `iterations` mean compute times, so every worker makes about that many steps.
    """
    if not workers or min(workers) < 1:
        raise ConfigError(f"workers must be a non-empty list of counts >= 1, got {list(workers)}")
    horizon = iterations * max(compute.seconds, 1e-9)
    single, _, _ = _run(1, compute, sync_for(1), mode, batch_size, horizon, every, 1, jitter, seed)
    points = []
    for n in workers:
        eps, stall, gap = _run(n, compute, sync_for(n), mode, batch_size, horizon, every, 1, jitter, seed)
        points.append(ScalingPoint(n, 1, eps, eps / (n * single), stall, gap))
    return points


def sweep_ps_shards(shards: Sequence[int], workers: int, compute: ServiceTime, push_pull: ServiceTime,
                    batch_size: int, iterations: int = 200, jitter: bool = False,
                    seed: int = 0) -> list[ScalingPoint]:
    """Simulated throughput of `workers` workers against each count of parameter-server shards
    (``ps`` mode: every iteration pushes and pulls the model through all shards, FIFO queues).

    `efficiency` is against `workers` unhindered workers (``EPS / (workers x batch / compute)``).
    """
    if not shards or min(shards) < 1:
        raise ConfigError(f"ps_shards must be a non-empty list of counts >= 1, got {list(shards)}")
    horizon = iterations * max(compute.seconds, 1e-9)
    ideal = workers * batch_size / max(compute.seconds, 1e-12)
    points = []
    for s in shards:
        eps, stall, _ = _run(workers, compute, push_pull, "ps", batch_size, horizon, 1, s, jitter, seed)
        points.append(ScalingPoint(workers, s, eps, eps / ideal, stall, 1.0))
    return points


def knee(xs: Sequence[float], ys: Sequence[float], fraction: float = 0.9) -> float:
    """The smallest x whose y reaches `fraction` of the largest y (the guidelines' knee of a saturating curve)."""
    if len(xs) != len(ys) or not xs:
        raise ConfigError(f"knee needs equally long, non-empty xs and ys, got {len(xs)} and {len(ys)}")
    top = max(ys)
    return min(x for x, y in zip(xs, ys) if y >= fraction * top)


def ps_shards_lemma(workers: int, compute_s: float, push_pull_s: float) -> int:
    """Parameter-server shards a cluster needs so that they are not the bottleneck (at least 1).

    With `workers` workers each computing for ``T_c`` and then pushing and pulling the model
    through ``s`` shards (each serving its ``1/s`` of a push-pull of ``T_pp`` per worker), the
    shards keep up while ``workers T_pp / s <= T_c + T_pp / s``, i.e. ``s >= (workers - 1) T_pp / T_c``.
    This is the suite's formulation of the data-parallel guidelines' parameter-server lemma
    (arXiv 1709.06622, abstract; the paper's own formula is not verified).
    """
    if compute_s <= 0:
        raise ConfigError(f"the compute time must be positive, got {compute_s} s")
    return max(1, math.ceil((workers - 1) * push_pull_s / compute_s - 1e-9))
