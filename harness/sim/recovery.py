"""A training job under failures, checkpoint saves and recovery, on the event engine (CPR's overhead emulation).

CPR (Maeng et al., arXiv 2011.02999, MLSys 2021) compares how much of a training job's time goes to
failure handling under *full* recovery (every node reloads the last checkpoint and the work since
it is redone) and *partial* recovery (only the failed embedding shard reloads; nothing is redone,
the shard's updates since its last save are lost instead). :func:`simulate_job` plays one job:
useful work advances at one second of work per ``slowdown`` wall seconds, a save pauses it every
``interval_s`` of work for ``save_s``, a failure (renewal process in wall time) interrupts whatever
is going on, rolls progress back to the last completed save if the policy says so, and pauses the
job for ``recover_s`` (restart + load). A failure during a save aborts it; during a recovery it
restarts the recovery. Every duration comes from :mod:`harness.sim.service` (measured or declared).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from harness.errors import ConfigError
from harness.sim.events import Simulator


@dataclass(frozen=True)
class RecoveryPolicy:
    """How a job checkpoints and recovers: the save interval (seconds of useful work) and the pauses it pays."""

    name: str
    interval_s: float
    save_s: float
    recover_s: float
    rollback: bool
    slowdown: float = 1.0

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.save_s < 0 or self.recover_s < 0 or self.slowdown < 1:
            raise ConfigError(f"recovery policy {self.name!r}: need interval_s > 0, save_s >= 0, recover_s >= 0, "
                              f"slowdown >= 1; got {self.interval_s}, {self.save_s}, {self.recover_s}, {self.slowdown}")


@dataclass(frozen=True)
class JobRun:
    """One simulated job: its wall time against its useful work, and where the difference went."""

    total_s: float
    work_s: float
    saves: int
    failures: int
    lost_work_s: float
    save_s: float
    recover_s: float

    @property
    def overhead(self) -> float:
        """The fraction of the job's wall time not spent on useful work: ``1 - work / total``."""
        return 1.0 - self.work_s / self.total_s


def young_interval(save_s: float, mtbf_s: float) -> float:
    """Young's first-order optimal checkpoint interval ``sqrt(2 * O_save * MTBF)`` (Young, CACM 1974)."""
    return math.sqrt(2.0 * save_s * mtbf_s)


@dataclass
class _JobState:
    """The simulated job's progress (seconds of useful work), its phase, and the tallies of where time went."""

    progress: float = 0.0
    saved: float = 0.0
    since: float = 0.0
    token: int = 0
    phase: str = "work"
    saves: int = 0
    failures: int = 0
    lost: float = 0.0
    save_s: float = 0.0
    recover_s: float = 0.0
    done: float = -1.0


def simulate_job(policy: RecoveryPolicy, work_s: float, failures_at: Iterable[float],
                 horizon_s: float = math.inf) -> JobRun:
    """Play a job of `work_s` seconds of useful work under `policy`, with failures at wall times `failures_at`.

    `failures_at` must be increasing and cover ``[0, horizon_s)``; failures after the job ends are
    ignored. A job still running at `horizon_s` raises :class:`ConfigError`: past it, the job would
    run free of failures (the caller draws a longer horizon). Each callback carries the token of
    the phase that scheduled it; a failure bumps the token, so the interrupted phase's end is void.
    """
    sim = Simulator()
    job = _JobState()
    failures = iter(failures_at)

    def current(token: int) -> bool:
        return token == job.token and job.done < 0

    def enter(phase: str) -> int:
        job.token += 1
        job.phase, job.since = phase, sim.now
        return job.token

    def start_work() -> None:
        token = enter("work")
        target = min(job.saved + policy.interval_s, work_s)
        sim.after((target - job.progress) * policy.slowdown, lambda: reach(token, target))

    def reach(token: int, target: float) -> None:
        if not current(token):
            return
        job.progress = target
        if target >= work_s:
            job.done = sim.now
            return
        save_token = enter("save")
        sim.after(policy.save_s, lambda: saved(save_token))

    def saved(token: int) -> None:
        if not current(token):
            return
        job.saves += 1
        job.save_s += policy.save_s
        job.saved = job.progress
        start_work()

    def fail() -> None:
        if job.done >= 0:
            return
        job.failures += 1
        if job.phase == "work":
            job.progress += (sim.now - job.since) / policy.slowdown
        elif job.phase == "save":
            job.save_s += sim.now - job.since  # an aborted save's time is spent all the same
        else:
            job.recover_s += sim.now - job.since  # so is an interrupted recovery's
        if policy.rollback:
            job.lost += job.progress - job.saved
            job.progress = job.saved
        token = enter("recover")

        def recovered() -> None:
            if current(token):
                job.recover_s += policy.recover_s
                start_work()
        sim.after(policy.recover_s, recovered)
        schedule_next_failure()

    def schedule_next_failure() -> None:
        upcoming = next(failures, None)
        if upcoming is not None:
            sim.at(max(float(upcoming), sim.now), fail)

    schedule_next_failure()
    start_work()
    while job.done < 0 and sim.pending:
        sim.run(max_events=10_000)
    if job.done > horizon_s:
        raise ConfigError(f"recovery policy {policy.name!r}: the job ran past the failure horizon ({job.done:.4g} s "
                          f"> {horizon_s:.4g} s); draw failures over a longer horizon")
    return JobRun(total_s=job.done, work_s=float(work_s), saves=job.saves, failures=job.failures,
                  lost_work_s=job.lost, save_s=job.save_s, recover_s=job.recover_s)
