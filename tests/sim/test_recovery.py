"""The job-under-failures simulator: hand-computed schedules, and Young's first-order overhead."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.cluster.failures import failure_times
from harness.errors import ConfigError
from harness.sim.recovery import RecoveryPolicy, simulate_job, young_interval


def test_a_job_without_failures_pays_only_its_saves() -> None:
    policy = RecoveryPolicy("p", interval_s=10.0, save_s=1.0, recover_s=5.0, rollback=True)
    run = simulate_job(policy, work_s=35.0, failures_at=[])
    assert run.saves == 3 and run.failures == 0  # saves at 10, 20, 30 of work; none at the end
    assert run.total_s == pytest.approx(38.0) and run.overhead == pytest.approx(3 / 38)


def test_full_recovery_redoes_the_work_since_the_last_save() -> None:
    policy = RecoveryPolicy("full", interval_s=10.0, save_s=1.0, recover_s=5.0, rollback=True)
    # wall 0-10 work, 10-11 save, 11-15 work (4 s since the save), failure at 15: 4 s lost, 5 s recovery
    run = simulate_job(policy, work_s=20.0, failures_at=[15.0])
    assert run.lost_work_s == pytest.approx(4.0) and run.failures == 1
    assert run.total_s == pytest.approx(11 + 4 + 5 + 10)  # then 10 s of work to the end (no save at the end)


def test_partial_recovery_keeps_its_progress_and_a_failure_aborts_a_save() -> None:
    partial = RecoveryPolicy("partial", interval_s=10.0, save_s=2.0, recover_s=1.0, rollback=False)
    run = simulate_job(partial, work_s=20.0, failures_at=[15.0])
    assert run.lost_work_s == 0 and run.total_s == pytest.approx(12 + 3 + 1 + 7)  # 13 of 20 done at the failure
    # a failure at 11 (during the save 10-12): the save's second spent, 1 s recovery, the save is redone
    aborted = simulate_job(partial, work_s=20.0, failures_at=[11.0])
    assert aborted.saves == 1 and aborted.save_s == pytest.approx(1 + 2)
    assert aborted.total_s == pytest.approx(10 + 1 + 1 + 2 + 10)


def test_simulated_full_recovery_overhead_follows_youngs_first_order_formula() -> None:
    mtbf, save, recover = 3600.0, 3.0, 5.0
    policy = RecoveryPolicy("full", young_interval(save, mtbf), save, recover, rollback=True)
    times = failure_times(mtbf, 3000 * mtbf, np.random.default_rng(0))
    run = simulate_job(policy, 1000 * mtbf, times)
    first_order = math.sqrt(2 * save / mtbf) + recover / mtbf
    assert run.overhead == pytest.approx(first_order, rel=0.1)
    assert 900 < run.failures < 1100


def test_a_job_outliving_its_failure_horizon_and_a_bad_policy_are_refused() -> None:
    policy = RecoveryPolicy("full", 10.0, 1.0, 5.0, rollback=True)
    with pytest.raises(ConfigError, match="longer horizon"):
        simulate_job(policy, work_s=100.0, failures_at=[5.0], horizon_s=50.0)
    with pytest.raises(ConfigError, match="interval_s > 0"):
        RecoveryPolicy("bad", 0.0, 1.0, 1.0, rollback=True)
