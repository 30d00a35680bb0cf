"""Service times measured on this machine feed the cluster simulator, with their sources."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.cluster.comm import CollectiveFit
from harness.sim.service import collective_time, measure_train_step
from harness.sim.training import ClusterConfig, simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from cluster_helpers import batches, tiny_dlrm  # noqa: E402


def test_measured_step_and_collective_drive_the_simulation() -> None:
    step = measure_train_step(tiny_dlrm(), batches(4), steps=5, warmup=2, what="tiny DLRM")
    assert step.kind == "measured" and len(step.samples) == 5 and step.seconds > 0
    assert "tiny DLRM" in step.source and "batch 32" in step.source
    fit = CollectiveFit("all_reduce", 2, 2.5e-4, 1.3e9, 0.3, [4096, 1 << 20], [2.6e-4, 1.0e-3])
    sync = collective_time(fit, 13_000)
    assert sync.seconds == pytest.approx(2.5e-4 + 13_000 / 1.3e9) and "gloo" in sync.source
    config = ClusterConfig(workers=4, compute=(step,), sync=sync, batch_size=32, jitter=True, seed=1)
    result = simulate(config, horizon_s=200 * step.seconds)
    # synchronous: the workers stay within one iteration of each other (the horizon may cut a round),
    # and every round is paced by the slowest draw plus the sync
    assert max(result.iterations) - min(result.iterations) <= 1
    assert result.examples_per_s <= 4 * 32 / (min(step.samples) + sync.seconds) + 1e-9
    assert config.sources()["sync"]["kind"] == "measured"


def test_checkpoint_io_and_restart_are_measured_with_their_sources(tmp_path: Path) -> None:
    from harness.sim.service import measure_checkpoint_io, measure_restart

    save, load = measure_checkpoint_io(tmp_path, sizes=(1 << 18, 1 << 20), repeats=1)
    assert save.operation == "save" and load.operation == "load" and save.bytes_per_s > 0 and save.alpha_s >= 0
    assert len(save.medians_s) == 2 and not list(tmp_path.iterdir())  # the probe file is removed
    time = save.time(4 << 20, "a 4 MiB table")
    assert time.kind == "measured" and time.seconds == pytest.approx(save.alpha_s + (4 << 20) / save.bytes_per_s)
    assert "4 MiB table" in time.source and "fsync" in time.source
    restart = measure_restart(repeats=1, statement="pass")
    assert restart.kind == "measured" and restart.seconds > 0 and "'pass'" in restart.source
