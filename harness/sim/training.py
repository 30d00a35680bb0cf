"""Data-parallel training on N workers as a discrete-event simulation, under one synchronisation model.

Each worker repeats an iteration of `compute` seconds (a :class:`~harness.sim.service.ServiceTime`,
measured here or declared from a paper; with ``jitter`` the measured samples are resampled, so
stragglers appear). How the workers synchronise (`mode`):

* ``allreduce``: synchronous data parallelism: after every iteration all workers wait for the
  slowest, then one collective of `sync` seconds (a ring all-reduce, say) runs before the next.
* ``every_k``: the same barrier and collective every `every` iterations only (foreground
  model averaging, e.g. FR-EASGD / MA every k steps; ShadowSync, arXiv 2003.03477, Sec. 3).
* ``shadow``: background synchronisation: collectives of `sync` seconds run back to back in a
  separate thread while the workers never wait (ShadowSync's shadow threads); one worker has
  nothing to synchronise, so it has no such thread. The simulated
  emergent quantity is the number of iterations between two syncs.
* ``ps``: after every iteration a worker pushes its update to and pulls the model from
  `ps_shards` parameter-server shards; each shard is a FIFO server, and `sync` is the time one
  server takes to serve one worker's push+pull of the *whole* model, so a shard serves its
  ``1/ps_shards`` part in ``sync / ps_shards``. Workers queue at busy shards: too few shards make
  communication the bottleneck (the data-parallel guidelines' parameter-server lemma,
  arXiv 1709.06622).

Simulated time runs to `horizon_s`. :class:`ClusterResult` gives the throughput, the time each
worker stalled in its loop, the syncs, and the engine's events per wall-clock second.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from harness.errors import ConfigError
from harness.sim.events import FifoServer, Simulator
from harness.sim.service import ServiceTime

MODES = ("allreduce", "every_k", "shadow", "ps")


@dataclass(frozen=True)
class ClusterConfig:
    """N workers, their iteration time (one for all, or one per worker), the sync time and model."""

    workers: int
    compute: tuple[ServiceTime, ...]
    sync: ServiceTime
    mode: str = "allreduce"
    batch_size: int = 1
    every: int = 1
    ps_shards: int = 1
    jitter: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown synchronisation mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.workers < 1 or self.every < 1 or self.ps_shards < 1:
            raise ConfigError(f"workers, every and ps_shards must be >= 1, got {self.workers}, {self.every}, "
                              f"{self.ps_shards}")
        if self.mode == "shadow" and self.workers > 1 and self.sync.seconds <= 0:
            raise ConfigError(f"shadow mode needs a positive sync time (a zero one would loop forever at one "
                              f"instant), got {self.sync.seconds} s from {self.sync.source}")
        if len(self.compute) not in (1, self.workers):
            raise ConfigError(f"give one compute time for all workers or one per worker ({self.workers}), "
                              f"got {len(self.compute)}")

    def sources(self) -> dict[str, Any]:
        """Where every simulated duration comes from, for the run record."""
        return {"compute": [c.as_dict() for c in self.compute], "sync": self.sync.as_dict()}


@dataclass(frozen=True)
class ClusterResult:
    """What a simulated run produced.

    `iterations` per worker; `stall_s` per worker: time spent waiting in the training loop (at a
    barrier, in a collective, queued at or served by a parameter server), completed waits only;
    `syncs`: collectives finished (``ps``: push-pulls finished, one per iteration);
    `iterations_per_sync`: mean iterations a worker makes between two syncs.
    """

    horizon_s: float
    iterations: list[int]
    examples_per_s: float
    stall_s: list[float]
    syncs: int
    iterations_per_sync: float
    events: int
    wall_s: float

    @property
    def events_per_s(self) -> float:
        """Simulator events processed per wall-clock second."""
        return self.events / max(self.wall_s, 1e-12)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (with events/s)."""
        return {**asdict(self), "events_per_s": self.events_per_s}


class _Cluster:
    """The event handlers of one simulated run."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.sim = Simulator()
        rng = np.random.default_rng(config.seed)
        computes = config.compute if len(config.compute) == config.workers else config.compute * config.workers
        self.compute: list[Callable[[], float]] = [c.sampler(rng, config.jitter) for c in computes]
        self.sync_time = config.sync.sampler(rng, config.jitter)
        self.iterations = [0] * config.workers
        self.stall = [0.0] * config.workers
        self.waiting_since: dict[int, float] = {}
        self.sync_marks: list[list[int]] = []
        self.shards = [FifoServer(self.sim, f"ps{s}") for s in range(config.ps_shards)]

    def start(self) -> None:
        for w in range(self.config.workers):
            self._compute(w)
        if self.config.mode == "shadow" and self.config.workers > 1:
            self._shadow_sync()

    def _compute(self, w: int) -> None:
        self.sim.after(self.compute[w](), lambda: self._iteration_done(w))

    def _iteration_done(self, w: int) -> None:
        self.iterations[w] += 1
        mode = self.config.mode
        if mode == "shadow":
            self._compute(w)
        elif mode == "ps":
            self._push_pull(w)
        elif self.iterations[w] % (1 if mode == "allreduce" else self.config.every) == 0:
            self._arrive_at_barrier(w)
        else:
            self._compute(w)

    def _arrive_at_barrier(self, w: int) -> None:
        self.waiting_since[w] = self.sim.now
        if len(self.waiting_since) == self.config.workers:
            self.sim.after(self.sync_time(), self._collective_done)

    def _collective_done(self) -> None:
        self.sync_marks.append(list(self.iterations))
        for w, since in self.waiting_since.items():
            self.stall[w] += self.sim.now - since
        self.waiting_since.clear()
        for w in range(self.config.workers):
            self._compute(w)

    def _shadow_sync(self) -> None:
        def done() -> None:
            self.sync_marks.append(list(self.iterations))
            self._shadow_sync()
        self.sim.after(self.sync_time(), done)

    def _push_pull(self, w: int) -> None:
        self.waiting_since[w] = self.sim.now
        remaining = [len(self.shards)]
        part = self.sync_time() / len(self.shards)

        def shard_done() -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                self.stall[w] += self.sim.now - self.waiting_since.pop(w)
                self._compute(w)
        for shard in self.shards:
            shard.submit(part, shard_done)

    def iterations_per_sync(self) -> float:
        """Mean over workers of the iterations between consecutive syncs (0 when fewer than 2 syncs)."""
        if len(self.sync_marks) < 2:
            return 0.0
        marks = np.asarray(self.sync_marks, dtype=np.float64)
        return float(np.mean(np.diff(marks, axis=0)))


def simulate(config: ClusterConfig, horizon_s: float) -> ClusterResult:
    """Run `config` for `horizon_s` simulated seconds."""
    if horizon_s <= 0:
        raise ConfigError(f"the simulated horizon must be positive, got {horizon_s} s")
    cluster = _Cluster(config)
    began = time.perf_counter()
    cluster.start()
    cluster.sim.run(until=horizon_s)
    wall = time.perf_counter() - began
    syncs = len(cluster.sync_marks) if config.mode != "ps" else sum(cluster.iterations)
    return ClusterResult(horizon_s=horizon_s, iterations=list(cluster.iterations),
                         examples_per_s=sum(cluster.iterations) * config.batch_size / horizon_s,
                         stall_s=list(cluster.stall), syncs=syncs,
                         iterations_per_sync=cluster.iterations_per_sync() if config.mode != "ps" else 1.0,
                         events=cluster.sim.events_processed, wall_s=wall)
