"""Where a training step's time goes: data, forward, backward and optimiser phases.

The loop calls :meth:`StepTimer.mark` at each phase boundary; on CUDA it synchronises first so
that asynchronous kernels are charged to the phase that launched them. Besides wall time the
timer sums the process's CPU time: on a shared machine wall time includes waiting for other
processes, while CPU time of a one-thread run is what the step costs (``cpu_total``).
"""

from __future__ import annotations

import time

import torch

PHASES = ("data", "forward", "backward", "optimizer")


class StepTimer:
    """Accumulates wall time per phase over steps; reports the mean milliseconds per step."""

    def __init__(self, device: torch.device) -> None:
        self.sync = device.type == "cuda"
        self.totals = dict.fromkeys(PHASES, 0.0)
        self.cpu_seconds = 0.0
        self.steps = 0
        self._last = time.perf_counter()
        self._last_cpu = time.process_time()

    def start(self) -> None:
        """Begin timing a step (the data phase starts now)."""
        if self.sync:
            torch.cuda.synchronize()
        self._last = time.perf_counter()
        self._last_cpu = time.process_time()

    def mark(self, phase: str) -> None:
        """Charge the time since the previous mark to `phase`."""
        if self.sync:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.totals[phase] += now - self._last
        self._last = now
        if phase == PHASES[-1]:
            self.steps += 1
            cpu = time.process_time()
            self.cpu_seconds += cpu - self._last_cpu
            self._last_cpu = cpu

    def seconds(self) -> float:
        """Total training time over all phases."""
        return sum(self.totals.values())

    def ms_per_step(self) -> dict[str, float]:
        """Mean wall milliseconds per step of each phase, their total, and CPU milliseconds per step."""
        steps = max(self.steps, 1)
        split = {phase: 1000 * t / steps for phase, t in self.totals.items()}
        split["total"] = sum(split.values())
        split["cpu_total"] = 1000 * self.cpu_seconds / steps
        return split
