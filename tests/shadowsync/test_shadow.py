"""ShadowSync's rules and schedules: hand-computed syncs, the shadow emulation's lag, and real gloo against virtual."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest
import torch

from harness.errors import ConfigError
from papers.shadowsync.shadow import Method, RuleState, parse_method, train_virtual

HERE = Path(__file__).parent
CLUSTER = HERE.parent / "cluster"
sys.path.insert(0, str(CLUSTER))
from cluster_helpers import batches, tiny_dlrm  # noqa: E402


def test_model_averaging_and_easgd_targets_by_hand() -> None:
    snaps = [torch.tensor([0.0, 2.0]), torch.tensor([2.0, 4.0])]
    mean = torch.stack(snaps).mean(0)
    ma = RuleState(Method("foreground", "ma"), 2)
    assert all(torch.equal(t, mean) for t in ma.targets(snaps, mean))
    easgd = RuleState(Method("foreground", "easgd", alpha=0.25), 2, center=torch.zeros(2))
    targets = easgd.targets(snaps, mean)
    torch.testing.assert_close(targets[0], torch.tensor([0.0, 1.5]))  # x - 0.25 (x - 0)
    torch.testing.assert_close(targets[1], torch.tensor([1.5, 3.0]))
    assert easgd.center is not None
    torch.testing.assert_close(easgd.center, torch.tensor([0.5, 1.5]))  # c + 0.25 (sum_i x_i - 2 c)


def test_method_names() -> None:
    assert parse_method("fg_easgd", 10, 3, 0.1) == Method("foreground", "easgd", 10, 0.1)
    assert parse_method("fg_ma_gap", 10, 3, 0.1).every == 3
    assert parse_method("shadow_ma", 10, 3, 0.1) == Method("shadow", "ma", 3, 0.1)
    with pytest.raises(ConfigError, match="unknown method"):
        parse_method("shadow_bmuf", 10, 3, 0.1)


def test_foreground_every_step_is_model_averaging_and_shadow_lags_one_gap() -> None:
    def run(method: Method) -> tuple[torch.nn.Module, float]:
        model, stats = train_virtual(tiny_dlrm(), batches(), method, workers=2, lr=0.1, max_steps=0)
        return model, stats.syncs

    fg_model, fg_syncs = run(Method("foreground", "ma", 1))
    shadow_model, shadow_syncs = run(Method("shadow", "ma", 1))
    assert fg_syncs == 6 and shadow_syncs == 5  # the shadow's first sync is written back one gap later
    fg = torch.nn.utils.parameters_to_vector(fg_model.parameters())
    shadow = torch.nn.utils.parameters_to_vector(shadow_model.parameters())
    assert not torch.allclose(fg, shadow)  # stale syncs follow another trajectory


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fg_ma", "fg_easgd", "sync"])
def test_two_gloo_processes_match_two_virtual_workers(name: str, tmp_path: Path, torchrun: Callable[..., int]) -> None:
    out = tmp_path / "gloo.pt"
    torchrun(HERE / "gloo_worker.py", name, str(out), path=[CLUSTER], timeout=180)
    real = torch.load(out)
    method = parse_method(name, 2, 2, 0.2)
    virtual, stats = train_virtual(tiny_dlrm(), batches(), method, workers=2, lr=0.1, max_steps=0)
    torch.testing.assert_close(virtual.state_dict(), real["state"], rtol=1e-5, atol=1e-6)
    assert real["syncs"] == stats.syncs
