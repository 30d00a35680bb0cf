"""The event engine against queueing theory, and the cluster simulator against hand-computed schedules."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.sim.events import Simulator, single_server_queue
from harness.sim.service import ServiceTime, declared
from harness.sim.training import ClusterConfig, simulate

# 100,000 customers at utilisation 0.5: the simulated mean wait lies within about 1.5% of the
# closed form (seeds 0-2 measured: M/D/1 0.508 / 0.504 / 0.495 vs 0.5). 5% leaves room for any seed
# while catching a wrong queue discipline (LIFO or a lost job changes the mean wait by far more).
QUEUE_TOLERANCE = 0.05
CUSTOMERS = 100_000


def md1_mean_wait(arrival_rate: float, service_s: float) -> float:
    """Pollaczek-Khinchine for deterministic service: ``W_q = rho D / (2 (1 - rho))`` (Kleinrock 1975, Vol. 1, Sec. 5.7)."""
    rho = arrival_rate * service_s
    return rho * service_s / (2 * (1 - rho))


def mm1_mean_wait(arrival_rate: float, service_rate: float) -> float:
    """M/M/1: ``W_q = rho / (mu - lambda)`` (Kleinrock 1975, Vol. 1, Sec. 3.2)."""
    return arrival_rate / service_rate / (service_rate - arrival_rate)


def test_md1_mean_wait_matches_pollaczek_khinchine() -> None:
    run = single_server_queue(0.5, lambda: 1.0, CUSTOMERS, rng_seed=11)
    assert run.mean_wait_s == pytest.approx(md1_mean_wait(0.5, 1.0), rel=QUEUE_TOLERANCE)
    assert run.utilisation == pytest.approx(0.5, rel=0.02)
    assert run.events == 2 * CUSTOMERS  # one arrival and one departure per customer


def test_mm1_mean_wait_matches_closed_form() -> None:
    rng = np.random.default_rng(12)
    run = single_server_queue(0.5, lambda: float(rng.exponential(1.0)), CUSTOMERS, rng_seed=13)
    assert run.mean_wait_s == pytest.approx(mm1_mean_wait(0.5, 1.0), rel=QUEUE_TOLERANCE)


def test_events_run_in_time_order_ties_in_schedule_order() -> None:
    sim, seen = Simulator(), []
    for name, t in (("b", 2.0), ("a", 1.0), ("c", 2.0)):
        sim.at(t, lambda name=name: seen.append((sim.now, name)))
    sim.run()
    assert seen == [(1.0, "a"), (2.0, "b"), (2.0, "c")]
    with pytest.raises(ValueError, match="before the present"):
        sim.at(1.0, lambda: None)


def _fixed(seconds: float) -> ServiceTime:
    return declared(seconds, "hand-computed schedule (test)")


def test_synchronous_allreduce_schedule_by_hand() -> None:
    # Workers of 1.0 s and 1.5 s, an all-reduce of 0.25 s: every iteration ends at 1.5 k + 0.25 (k - 1),
    # the sync after it at 1.75 k. By 7.0 s: 4 iterations each, 4 syncs; worker 0 waits 0.5 + 0.25 per round.
    config = ClusterConfig(workers=2, compute=(_fixed(1.0), _fixed(1.5)), sync=_fixed(0.25), batch_size=10)
    result = simulate(config, horizon_s=7.0)
    assert result.iterations == [4, 4]
    assert result.syncs == 4
    assert result.stall_s == pytest.approx([4 * 0.75, 4 * 0.25])
    assert result.examples_per_s == pytest.approx(8 * 10 / 7.0)
    assert result.iterations_per_sync == pytest.approx(1.0)


def test_foreground_every_k_schedule_by_hand() -> None:
    # Sync every 2 iterations: worker 1 reaches the barrier at 3.0, the sync ends at 3.25; a cycle is 3.25 s.
    config = ClusterConfig(workers=2, compute=(_fixed(1.0), _fixed(1.5)), sync=_fixed(0.25), mode="every_k", every=2)
    result = simulate(config, horizon_s=6.5)
    assert result.iterations == [4, 4]
    assert result.syncs == 2
    assert result.stall_s == pytest.approx([2 * 1.25, 2 * 0.25])


def test_shadow_sync_never_stalls_the_workers() -> None:
    # Background syncs of 0.35 s back to back (no sync time coincides with an iteration's end):
    # 16 by 5.9 s (the last at 5.6); workers run free: 5 and 3 iterations. From the first sync
    # (0.35 s: no iteration yet) to the last, worker 0 makes 5 and worker 1 3 iterations over 15 gaps.
    config = ClusterConfig(workers=2, compute=(_fixed(1.0), _fixed(1.5)), sync=_fixed(0.35), mode="shadow")
    result = simulate(config, horizon_s=5.9)
    assert result.iterations == [5, 3]
    assert result.stall_s == [0.0, 0.0]
    assert result.syncs == 16
    assert result.iterations_per_sync == pytest.approx((5 / 15 + 3 / 15) / 2)


def test_parameter_server_queueing_by_hand() -> None:
    # Two workers finish at 1.0; one shard serves 0.5 s each: worker 0 leaves at 1.5, worker 1 at 2.0.
    # Next round: worker 0 arrives 2.5 (served to 3.0), worker 1 arrives 3.0 (served to 3.5).
    config = ClusterConfig(workers=2, compute=(_fixed(1.0),), sync=_fixed(0.5), mode="ps")
    result = simulate(config, horizon_s=3.5)
    assert result.iterations == [2, 2]
    assert result.stall_s == pytest.approx([0.5 + 0.5, 1.0 + 0.5])
    two_shards = simulate(ClusterConfig(workers=2, compute=(_fixed(1.0),), sync=_fixed(0.5), mode="ps",
                                        ps_shards=2), horizon_s=3.5)
    assert sum(two_shards.stall_s) < sum(result.stall_s)  # more shards, less queueing


def test_service_times_need_a_source() -> None:
    with pytest.raises(ConfigError, match="needs its source"):
        declared(1.0, " ")
    with pytest.raises(ConfigError, match="unknown synchronisation mode"):
        ClusterConfig(workers=2, compute=(_fixed(1.0),), sync=_fixed(0.1), mode="gossip")
