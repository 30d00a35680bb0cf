"""A discrete-event engine: a min-heap of timestamped callbacks, and FIFO servers (links, parameter servers).

:class:`Simulator` pops events in time order (ties in the order they were scheduled, so a run is
deterministic) and counts them, for the events/s benchmark. :class:`FifoServer` is one server
with a first-come first-served queue: a link that sends one message at a time, a parameter-server
shard, a checkpoint writer. It records each job's waiting time, so a single-server queue can be
checked against queueing theory (tests: M/M/1 and M/D/1 mean waits).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Callback = Callable[[], None]


class Simulator:
    """Simulated time and the pending events; :meth:`run` processes them in time order."""

    def __init__(self) -> None:
        self.now = 0.0
        self.events_processed = 0
        self._queue: list[tuple[float, int, Callback]] = []
        self._order = itertools.count()

    def at(self, time: float, callback: Callback) -> None:
        """Run `callback` at simulated `time` (not before the present)."""
        if time < self.now:
            raise ValueError(f"cannot schedule an event at {time} s, before the present {self.now} s")
        heapq.heappush(self._queue, (time, next(self._order), callback))

    def after(self, delay: float, callback: Callback) -> None:
        """Run `callback` `delay` seconds from now."""
        self.at(self.now + delay, callback)

    def run(self, until: float = float("inf"), max_events: int | None = None) -> None:
        """Process events up to simulated time `until` (or `max_events` of them); time then stops at `until`."""
        processed = 0
        while self._queue and self._queue[0][0] <= until:
            if max_events is not None and processed >= max_events:
                return
            time, _, callback = heapq.heappop(self._queue)
            self.now = time
            callback()
            processed += 1
            self.events_processed += 1
        if until != float("inf"):
            self.now = max(self.now, until)

    @property
    def pending(self) -> int:
        """Events not yet processed."""
        return len(self._queue)

@dataclass
class FifoServer:
    """One server, one first-come first-served queue, service times given per job."""

    sim: Simulator
    name: str = "server"
    waits: list[float] = field(default_factory=list)
    busy_s: float = 0.0
    _queue: deque[tuple[float, float, Callback]] = field(default_factory=deque)
    _busy: bool = False

    def submit(self, service_s: float, done: Callback) -> None:
        """Queue a job needing `service_s` seconds of service; `done` runs when it leaves."""
        self._queue.append((self.sim.now, service_s, done))
        if not self._busy:
            self._start_next()

    def _start_next(self) -> None:
        arrived, service_s, done = self._queue.popleft()
        self._busy = True
        self.waits.append(self.sim.now - arrived)
        self.busy_s += service_s

        def finish() -> None:
            self._busy = False
            done()
            if self._queue and not self._busy:
                self._start_next()
        self.sim.after(service_s, finish)

    @property
    def queue_length(self) -> int:
        """Jobs waiting (not counting the one in service)."""
        return len(self._queue)

@dataclass(frozen=True)
class QueueRun:
    """A simulated single-server queue: the mean wait in queue, the utilisation, the events processed."""

    mean_wait_s: float
    utilisation: float
    customers: int
    events: int

def single_server_queue(arrival_rate: float, service: Callable[[], float], customers: int,
                        rng_seed: int = 0) -> QueueRun:
    """Poisson arrivals at `arrival_rate` into one :class:`FifoServer` with service times drawn by `service`.

    The engine's reference experiment: with exponential service it is an M/M/1 queue, with a
    constant one an M/D/1 queue, whose mean waits queueing theory gives in closed form.
    """

    sim = Simulator()
    server = FifoServer(sim)
    gaps = np.random.default_rng(rng_seed).exponential(1 / arrival_rate, size=customers)
    arrived = [0]

    def arrive() -> None:
        server.submit(service(), lambda: None)
        arrived[0] += 1
        if arrived[0] < customers:
            sim.after(float(gaps[arrived[0]]), arrive)

    sim.after(float(gaps[0]), arrive)
    sim.run()
    return QueueRun(float(sum(server.waits) / len(server.waits)), server.busy_s / sim.now, customers,
                    sim.events_processed)
