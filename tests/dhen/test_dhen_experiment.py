"""The DHEN study: the baseline, depths and MoE widenings, FLOPs matched in the default profile, NE gains."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.data.frappe import FIELD_SIZES
from harness.errors import ConfigError
from harness.models.flops import flops_per_example
from harness.study import LR_TRIAL
from harness.train.synthetic import random_ctr_batches
from papers.dhen.experiment import checkpoint_tag, moe_name, ne_reduction_pct, study, variants
from papers.dhen.params import Params
from repro.registry import load_registry

FRAPPE = SimpleNamespace(table_sizes={f"f{i}": rows for i, rows in enumerate(FIELD_SIZES)}, num_dense=0)  # random_ctr_batches keys


def test_ne_reduction_and_checkpoint_tags() -> None:
    assert ne_reduction_pct(0.99, 1.0) == pytest.approx(1.0)
    assert ne_reduction_pct(0.5, 0.4) == pytest.approx(-25.0)
    assert [checkpoint_tag(f) for f in (0.2, 0.6, 1.0)] == ["at_20pct", "at_60pct", "at_100pct"]


def test_moe_matches_must_name_trained_depths() -> None:
    with pytest.raises(ConfigError, match="moe_matches"):
        variants(Params(layers=(1, 2), moe_experts=(4, 8), moe_matches=(2, 4)))
    with pytest.raises(ConfigError, match="moe_matches"):
        variants(Params(moe_experts=(4,), moe_matches=(2, 4)))


@pytest.mark.parametrize("profile", ["default", "full"])
def test_the_profiles_compare_dhen_and_moe_at_flops_within_15_percent(profile: str) -> None:
    paper = load_registry()["dhen"]
    p: Params = paper.parse_params(paper.profiles[profile].params)
    built = variants(p)
    batch = random_ctr_batches(1, 32, 0, list(FIELD_SIZES))[0]
    for experts, depth in zip(p.moe_experts, p.moe_matches):
        flops = {name: flops_per_example(built[name].build(FRAPPE), batch, 32)
                 for name in (f"dhen_n{depth}", moe_name(depth))}
        assert 0.85 <= flops[f"dhen_n{depth}"] / flops[moe_name(depth)] <= 1.15, flops
        assert built[moe_name(depth)].settings["experts"] == experts


def test_every_claimed_model_is_a_variant_of_every_profile() -> None:
    paper = load_registry()["dhen"]
    claimed = {q.split(":")[0] for c in paper.claims for q in c.quantities()}
    for name, profile in paper.profiles.items():
        ctx = SimpleNamespace(params=paper.parse_params(profile.params), data_dir=None, work_dir=None)
        models = {v.rpartition(LR_TRIAL)[0] for v in study(ctx).variants}  # type: ignore[arg-type]
        assert claimed <= models, (name, claimed - models)
