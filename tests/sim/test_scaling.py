"""Scaling sweeps of the simulator against hand-computed schedules, the knee and the parameter-server lemma."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.sim.scaling import (DECLARED_FIT, all_reduce_service, knee, ps_shards_lemma, push_pull_service,
                                 sweep_ps_shards, sweep_workers)
from harness.sim.service import declared
from harness.sim.training import ClusterConfig, simulate

STEP = declared(0.010, "test fixture")
SYNC = declared(0.002, "test fixture")


def test_synchronous_efficiency_is_compute_over_compute_plus_sync() -> None:
    points = sweep_workers([1, 4], STEP, lambda n: SYNC if n > 1 else declared(0.0, "one worker"), "allreduce",
                           batch_size=8, iterations=100)
    assert points[0].efficiency == pytest.approx(1.0)
    assert points[1].efficiency == pytest.approx(0.010 / 0.012, rel=1e-2)
    assert points[1].stall_fraction == pytest.approx(0.002 / 0.012, rel=2e-2)


def test_shadow_workers_never_wait_and_sync_every_gap() -> None:
    [point] = sweep_workers([8], STEP, lambda n: declared(0.025, "test fixture"), "shadow", batch_size=8,
                            iterations=100)
    assert point.efficiency == pytest.approx(1.0, rel=1e-2)
    assert point.stall_fraction == 0.0
    assert point.iterations_per_sync == pytest.approx(2.5, rel=1e-2)


def test_one_shadow_worker_has_no_thread_and_zero_sync_is_refused() -> None:
    result = simulate(ClusterConfig(1, (STEP,), declared(0.0, "nothing to sync"), mode="shadow"), 1.0005)
    assert sum(result.iterations) == 100 and result.syncs == 0
    with pytest.raises(ConfigError, match="positive sync time"):
        ClusterConfig(2, (STEP,), declared(0.0, "test fixture"), mode="shadow")


def test_parameter_server_knee_follows_the_lemma() -> None:
    push_pull = declared(0.004, "test fixture")
    workers = 16
    lemma = ps_shards_lemma(workers, STEP.seconds, push_pull.seconds)
    assert lemma == 6  # ceil(15 x 0.004 / 0.010)
    points = sweep_ps_shards([1, 2, 4, 6, 8, 16], workers, STEP, push_pull, batch_size=1, iterations=200)
    eps = {p.ps_shards: p.examples_per_s for p in points}
    assert eps[1] == pytest.approx(1 / 0.004, rel=2e-2)  # one shard serves one push-pull at a time
    assert eps[2] < eps[4] < eps[6]
    assert eps[6] / max(eps.values()) > 0.9
    assert knee(list(eps), list(eps.values()), 0.9) <= lemma


def test_knee_is_the_smallest_x_within_the_fraction() -> None:
    assert knee([32, 64, 128, 256], [10.0, 50.0, 95.0, 100.0], 0.9) == 128
    with pytest.raises(ConfigError):
        knee([1, 2], [1.0], 0.9)


def test_services_from_a_declared_fit_say_so() -> None:
    one = all_reduce_service(DECLARED_FIT, 1, 1e6)
    assert one.seconds == 0.0
    two, twenty = all_reduce_service(DECLARED_FIT, 2, 1e6), all_reduce_service(DECLARED_FIT, 20, 1e6)
    assert two.kind == "declared" and "README" in two.source
    assert two.seconds == pytest.approx(250e-6 + 1e6 / 1.31e9, rel=1e-6)  # the ring formula reproduces the fit
    assert twenty.seconds > two.seconds
    assert push_pull_service(DECLARED_FIT, 1e6).seconds == pytest.approx(2 * (116e-6 + 1e6 / 3.12e9))
