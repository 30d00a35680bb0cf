"""CPR's overhead emulation (Maeng et al. 2021, abstract: 8.2-8.5% -> 0.53-0.68%), with costs measured here.

Every duration of the simulation is a :class:`~harness.sim.service.ServiceTime`:

* O_save and O_load: this machine's ``torch.save`` + fsync / ``torch.load`` fit
  (:func:`~harness.sim.service.measure_checkpoint_io`) applied to the simulated model's bytes: the
  Criteo Kaggle DLRM's tables (``sim_embedding_rows`` rows x (dim + 1) fp32: weights and row-wise
  Adagrad state);
* O_res: the start of a worker process here (:func:`~harness.sim.service.measure_restart`);
* MFU's and SSU's tracking cost: their per-batch bookkeeping timed on real batches, relative to a
  real training step of the small DLRM (:func:`~harness.sim.service.measure_train_step`): the
  work runs slower by ``1 + tracking / step``.

The failure rate is the independent variable. The *emulation point* is the MTBF at which
full recovery's first-order overhead ``sqrt(2 O_save / MTBF) + (O_res + O_load) / MTBF``
(Young's interval) equals the paper's full-recovery overhead: the paper's production MTBF and
costs are not verified, so the point is defined by the one number the abstract gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.cluster.failures import failure_times
from harness.errors import ConfigError
from harness.sim.recovery import JobRun, RecoveryPolicy, simulate_job, young_interval
from harness.sim.service import ServiceTime

POLICIES = ("full", "partial", "mfu", "ssu")


@dataclass(frozen=True)
class Costs:
    """The simulation's service times (all measured on this machine) and the model's checkpoint size."""

    save_full: ServiceTime
    save_priority: ServiceTime
    load_full: ServiceTime
    load_shard: ServiceTime
    restart: ServiceTime
    step: ServiceTime
    track_mfu: ServiceTime
    track_ssu: ServiceTime
    checkpoint_bytes: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, each time with its source."""
        return {k: (v.as_dict() if isinstance(v, ServiceTime) else v) for k, v in self.__dict__.items()}


def emulation_mtbf(costs: Costs, full_overhead: float) -> float:
    """The MTBF (s) at which full recovery's first-order overhead is `full_overhead`.

    With x = MTBF^-1/2: ``sqrt(2 O_save) x + (O_res + O_load) x^2 = full_overhead``, solved for x > 0.
    """
    if not 0 < full_overhead < 1:
        raise ConfigError(f"cpr: sim_full_overhead must be a fraction in (0, 1), got {full_overhead}")
    a = math.sqrt(2 * costs.save_full.seconds)
    b = costs.restart.seconds + costs.load_full.seconds
    x = full_overhead / a if b == 0 else (-a + math.sqrt(a * a + 4 * b * full_overhead)) / (2 * b)
    return 1.0 / (x * x)


def policies(costs: Costs, mtbf_s: float, pls: float, shards: int, budget: float) -> dict[str, RecoveryPolicy]:
    """The four schemes at one MTBF.

    full: Young's interval, every node reloads the whole checkpoint, work since the save is redone.
    partial: CPR's interval ``2 PLS N_emb MTBF`` (the largest keeping the portion of lost samples
    at `pls`), one shard reloads, nothing redone. mfu / ssu: partial saves of `budget` of the
    rows every `budget` x that interval (the same bytes per unit of work), slowed by their tracking.
    """
    recover_full = costs.restart.seconds + costs.load_full.seconds
    recover_shard = costs.restart.seconds + costs.load_shard.seconds
    interval = 2 * pls * shards * mtbf_s
    return {
        "full": RecoveryPolicy("full", young_interval(costs.save_full.seconds, mtbf_s), costs.save_full.seconds,
                               recover_full, rollback=True),
        "partial": RecoveryPolicy("partial", interval, costs.save_full.seconds, recover_shard, rollback=False),
        "mfu": RecoveryPolicy("mfu", budget * interval, costs.save_priority.seconds, recover_shard, rollback=False,
                              slowdown=1 + costs.track_mfu.seconds / costs.step.seconds),
        "ssu": RecoveryPolicy("ssu", budget * interval, costs.save_priority.seconds, recover_shard, rollback=False,
                              slowdown=1 + costs.track_ssu.seconds / costs.step.seconds),
    }


def simulate(policy: RecoveryPolicy, work_s: float, mtbf_s: float, shape: float, seed: list[int]) -> JobRun:
    """One job of `work_s` under `policy`, failures a gamma(`shape`) renewal process of mean `mtbf_s` from `seed`."""
    horizon = 2 * work_s
    while True:
        times = failure_times(mtbf_s, horizon, np.random.default_rng(seed), shape=shape)
        try:
            return simulate_job(policy, work_s, times, horizon)
        except ConfigError:
            horizon *= 2
            if horizon > 1e6 * work_s:
                raise


def run_name(policy: str, rate: float, shape: float) -> str:
    """``sim_<policy>_r<rate>`` (Poisson failures) or ``..._gamma<shape>``."""
    return f"sim_{policy}_r{rate:g}" + ("" if shape == 1.0 else f"_gamma{shape:g}")


def metrics(run: JobRun, policy: RecoveryPolicy, mtbf_s: float) -> dict[str, float]:
    """A simulated job's metrics: the overhead in percent and where it went."""
    return {"overhead_pct": 100 * run.overhead, "saves": float(run.saves), "failures": float(run.failures),
            "lost_work_pct": 100 * run.lost_work_s / run.total_s, "save_pct": 100 * run.save_s / run.total_s,
            "recover_pct": 100 * run.recover_s / run.total_s, "interval_s": policy.interval_s,
            "mtbf_h": mtbf_s / 3600, "failures_per_day": 86_400 / mtbf_s}
