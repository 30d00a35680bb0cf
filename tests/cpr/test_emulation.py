"""CPR's failure emulation inside a real training loop: full recovery redoes the work, partial reverts one shard."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from harness.cluster.virtual import bce_loss
from harness.errors import ConfigError
from harness.train.optim import SparseSpec, build_optimizers
from papers.cpr.emulation import RecoveryEmulation, RecoveryPlan, plan_failures

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from cluster_helpers import batches, tiny_dlrm  # noqa: E402

BATCH = 32


def _train(plan: RecoveryPlan, steps: int = 12) -> tuple[torch.nn.Module, RecoveryEmulation]:
    model, optimizers = build_optimizers(tiny_dlrm(seed=0), "adam", 0.01, 0.0, SparseSpec("rowwise_adagrad", 0.1),
                                         torch.device("cpu"))
    emulation = RecoveryEmulation(batches(steps, BATCH), plan)
    emulation.attach(model, optimizers)
    for batch in emulation:
        optimizers.zero_grad()
        bce_loss(model, batch).backward()
        optimizers.step()
    return model, emulation


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_full_recovery_retrains_the_lost_batches_to_the_no_failure_model_bit_for_bit() -> None:
    clean, _ = _train(RecoveryPlan("none"))
    # saves every 4 batches; failures after 6 and 9.5 batches: 2 and 1 batches (+ the current) lost and retrained
    plan = RecoveryPlan("full", save_every=4 * BATCH, failures_at=(6 * BATCH, 9.5 * BATCH), failed_shards=(0, 1))
    recovered, emulation = _train(plan)
    assert emulation.stats.failures == 2 and emulation.stats.replayed_samples == (2 + 2) * BATCH
    for key, value in _state(clean).items():
        torch.testing.assert_close(_state(recovered)[key], value, rtol=0, atol=0)


def test_partial_recovery_loses_only_the_failed_shards_updates() -> None:
    clean, _ = _train(RecoveryPlan("none"))
    plan = RecoveryPlan("partial", shards=2, save_every=100 * BATCH, failures_at=(11 * BATCH,), failed_shards=(1,))
    failed, emulation = _train(plan)
    stats = emulation.stats
    assert stats.failures == 1 and stats.replayed_samples == 0 and stats.saves == 1
    assert 0 < stats.lost_lookups < stats.lookups == 12 * BATCH * 4  # 4 tables, one id each per row
    clean_state, failed_state = _state(clean), _state(failed)
    key = next(k for k in clean_state if k.endswith("embedding_bags.t_f0.weight"))
    initial = next(v for k, v in _state(tiny_dlrm(seed=0)).items() if k.endswith("t_f0.weight"))
    # shard 1 (odd rows) went back to the save at step 0: its rows moved only in the last step
    assert not torch.equal(failed_state[key][1::2], clean_state[key][1::2])
    assert (failed_state[key][1::2] - initial[1::2]).abs().amax() < (clean_state[key][1::2] - initial[1::2]).abs().amax()
    assert stats.metrics()["lost_update_fraction"] == pytest.approx(stats.lost_lookups / stats.lookups)


def test_mfu_saves_the_most_used_rows_within_the_budget() -> None:
    plan = RecoveryPlan("mfu", shards=2, save_every=8 * BATCH, budget=0.25, seed=1)
    _, emulation = _train(plan)
    store = emulation.store
    assert store is not None
    # one full save at the start, then a quarter of every table's rows every 2 batches (5 partial saves)
    assert emulation.stats.saves == 1 + 5
    full_bytes = store.checkpoint_bytes()
    assert full_bytes < emulation.stats.saved_bytes <= full_bytes + 5 * 0.25 * full_bytes + 1e-9


def test_ssu_samples_used_rows_and_partial_and_mfu_lose_less_with_more_saves() -> None:
    failures = plan_failures(3 * BATCH, 12 * BATCH, 2, seed=0)
    vanilla = _train(RecoveryPlan("partial", shards=2, save_every=8 * BATCH, failures_at=failures[0],
                                  failed_shards=failures[1]))[1]
    frequent = _train(RecoveryPlan("partial", shards=2, save_every=2 * BATCH, failures_at=failures[0],
                                   failed_shards=failures[1]))[1]
    ssu = _train(RecoveryPlan("ssu", shards=2, save_every=8 * BATCH, budget=0.25, ssu_rate=0.5, seed=0,
                              failures_at=failures[0], failed_shards=failures[1]))[1]
    assert vanilla.stats.failures == frequent.stats.failures == ssu.stats.failures > 0
    assert frequent.stats.lost_lookups < vanilla.stats.lost_lookups
    assert ssu.stats.saves > vanilla.stats.saves


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown recovery mode"):
        RecoveryPlan("sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="save_every > 0"):
        RecoveryPlan("partial")
    with pytest.raises(ConfigError, match="one failed shard per failure"):
        RecoveryPlan("partial", save_every=10, failures_at=(1.0,))
    with pytest.raises(ConfigError, match="attach"):
        next(iter(RecoveryEmulation(batches(1), RecoveryPlan("partial", save_every=10))))
