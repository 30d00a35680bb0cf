"""Distributed-training harness benchmarks: the gloo collectives of this machine and the simulator's speed.

``GlooCollectives`` runs :func:`harness.cluster.comm.launch` once (2 local processes under
torchrun, gloo, one thread each) and tracks each collective's fitted latency alpha and its time
per MiB (``1 / bandwidth``); where a process group cannot start (no loopback, no free port) it is
skipped. ``Simulator`` times the event engine on an M/D/1 queue (40,000 events) and on a
synchronous data-parallel cluster of 16 workers, i.e. the inverse of events/s.

Direction: asv counts every number as lower-is-better, so the tracks are seconds (latency, seconds
per MiB, seconds per million events), never a bandwidth or a rate.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.cluster.comm import launch
from harness.cluster.topology import COLLECTIVES
from harness.sim.events import single_server_queue
from harness.sim.service import declared
from harness.sim.training import ClusterConfig, simulate

MIB = 1 << 20
SIZES = (4096, 65536, MIB, 4 * MIB, 16 * MIB)
QUEUE_CUSTOMERS = 20_000
# Engine-speed fixtures: the durations only shape the event pattern; no result is read from them.
STEP = declared(0.05, "benchmark fixture, not a measurement")
SYNC = declared(0.01, "benchmark fixture, not a measurement")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GlooCollectives:
    """alpha and seconds per MiB of all-reduce, all-gather, broadcast and all-to-all on 2 gloo processes."""

    params = list(COLLECTIVES)
    param_names = ["collective"]
    timeout = 900
    number = 1
    repeat = 1
    unit = "seconds"

    def setup_cache(self) -> dict[str, Any] | None:
        """One calibration for every collective; None if the process group cannot start."""
        with tempfile.TemporaryDirectory() as folder:
            try:
                return launch(2, Path(folder) / "fit.json", SIZES, repeats=7, port=_free_port())
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
                return None

    def setup(self, fit: dict[str, Any] | None, collective: str) -> None:
        """Skip (asv's NotImplementedError) when the calibration could not run."""
        if fit is None:
            raise NotImplementedError("a 2-process gloo group could not start on this machine")

    def track_alpha(self, fit: dict[str, Any], collective: str) -> float:
        """Fitted per-call latency, seconds."""
        return fit["fits"][collective]["alpha_s"]

    def track_seconds_per_mib(self, fit: dict[str, Any], collective: str) -> float:
        """Fitted time per MiB of per-rank payload (1 / bandwidth), seconds."""
        return MIB / fit["fits"][collective]["bandwidth_bytes_per_s"]


class Simulator:
    """The discrete-event engine's cost per event."""

    unit = "seconds"

    def time_md1_queue(self) -> None:
        """An M/D/1 queue of 20,000 customers (40,000 events)."""
        single_server_queue(0.5, lambda: 1.0, QUEUE_CUSTOMERS)

    def track_seconds_per_million_events(self) -> float:
        """Wall seconds per million events of a 16-worker synchronous all-reduce cluster (1 / events/s)."""
        config = ClusterConfig(workers=16, compute=(STEP,), sync=SYNC, mode="allreduce")
        result = simulate(config, horizon_s=600.0)
        return 1e6 / result.events_per_s

    def track_seconds_per_million_events_ps(self) -> float:
        """The same for 16 workers queueing at 4 parameter-server shards (FIFO servers)."""
        config = ClusterConfig(workers=16, compute=(STEP,), sync=SYNC, mode="ps", ps_shards=4)
        result = simulate(config, horizon_s=300.0)
        return 1e6 / result.events_per_s
