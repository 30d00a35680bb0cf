"""CPR's configuration arithmetic: checkpoint intervals from the PLS target, the emulation point, the variants."""

from __future__ import annotations

import math

import pytest

from harness.errors import ConfigError
from harness.sim.service import declared
from papers.cpr import overhead
from papers.cpr.experiment import recovery_plan, variant_names
from papers.cpr.params import Params


def test_partial_intervals_follow_the_pls_target_and_failures_are_shared_by_a_seeds_variants() -> None:
    p = Params(shards=8, failures_per_epoch=16.0, pls_targets=(0.1, 0.4), budget=0.125, priority_pls=0.4)
    samples = 400_000
    mtbf = samples / 16
    sizes = {f"cat_{i}": 1000 for i in range(26)}
    plans = {name: recovery_plan(p, name, samples, 3, sizes) for name in variant_names(p)}
    assert list(plans) == ["no_failure", "full", "partial_pls0.1", "partial_pls0.4", "mfu", "ssu"]
    assert plans["partial_pls0.1"].save_every == round(2 * 0.1 * 8 * mtbf)  # PLS = T_save / (2 N_emb MTBF)
    assert plans["mfu"].save_every == plans["partial_pls0.4"].save_every
    assert plans["mfu"].partial_every == round(0.125 * plans["mfu"].save_every)
    assert plans["full"].failures_at == plans["ssu"].failures_at and plans["full"].failed_shards == plans["ssu"].failed_shards
    assert plans["no_failure"].failures_at == ()
    assert recovery_plan(p, "full", samples, 4, sizes).failures_at != plans["full"].failures_at
    # SSU samples, per partial save, about as many lookups as the budget has rows
    assert plans["ssu"].ssu_rate * plans["ssu"].partial_every * 26 == pytest.approx(0.125 * 26_000)
    with pytest.raises(ConfigError, match="unknown variant"):
        variant_names(Params(variants=("partial", "sometimes")))


def _costs(save: float, load: float, restart: float) -> overhead.Costs:
    t = declared
    return overhead.Costs(save_full=t(save, "test"), save_priority=t(save / 8, "test"), load_full=t(load, "test"),
                          load_shard=t(load / 8, "test"), restart=t(restart, "test"), step=t(0.02, "test"),
                          track_mfu=t(0.002, "test"), track_ssu=t(0.001, "test"), checkpoint_bytes=1)


def test_the_emulation_point_gives_full_recovery_the_papers_first_order_overhead() -> None:
    costs = _costs(save=3.0, load=1.0, restart=2.0)
    mtbf = overhead.emulation_mtbf(costs, 0.0835)
    assert math.sqrt(2 * 3.0 / mtbf) + 3.0 / mtbf == pytest.approx(0.0835)
    chosen = overhead.policies(costs, mtbf, pls=0.1, shards=8, budget=0.125)
    assert chosen["full"].rollback and not chosen["partial"].rollback
    assert chosen["partial"].interval_s == pytest.approx(1.6 * mtbf)
    assert chosen["mfu"].interval_s == pytest.approx(0.2 * mtbf) and chosen["mfu"].slowdown == pytest.approx(1.1)
    job = overhead.simulate(chosen["full"], 200 * mtbf, mtbf, 1.0, [0, 0, 0])
    assert job.overhead == pytest.approx(0.0835, rel=0.2)
    with pytest.raises(ConfigError, match="fraction"):
        overhead.emulation_mtbf(costs, 8.35)


def test_a_multi_process_run_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from harness.experiment import ExperimentContext
    from papers.cpr.experiment import run

    monkeypatch.setenv("WORLD_SIZE", "2")
    ctx = ExperimentContext("cpr", "smoke", [0], "cpu", tmp_path, tmp_path, Params())
    with pytest.raises(ConfigError, match="virtual, in one process"):
        run(ctx)
