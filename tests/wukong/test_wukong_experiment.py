"""The Wukong study: its variants (depth, Fig. 4 ablations, baselines), their tuning, and that the claims name them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from harness.data.frappe import FIELD_SIZES
from harness.errors import ConfigError
from harness.study import LR_TRIAL
from harness.train.synthetic import random_ctr_batches
from papers.wukong.experiment import MAIN, ablation_name, wukong_variants
from papers.wukong.params import Params
from repro.registry import load_registry

FRAPPE = SimpleNamespace(table_sizes={f"f{i}": rows for i, rows in enumerate(FIELD_SIZES)}, num_dense=0)  # random_ctr_batches keys


def test_ablation_names_and_unknown_branches() -> None:
    assert ablation_name("lcb+residual") == "ablate_lcb_residual"
    with pytest.raises(ConfigError, match="unknown ablation 'fcb'"):
        wukong_variants(Params(ablations=("fcb",)))


def test_ablated_variants_keep_the_parameters_and_zero_their_branch() -> None:
    p = Params(dim=8, fmb_hidden=(16,), head=(16,))
    variants = wukong_variants(p)
    assert list(variants) == [MAIN, "wukong_l1", "ablate_fmb", "ablate_lcb", "ablate_residual", "ablate_lcb_residual"]
    torch.manual_seed(0)
    full = variants[MAIN].build(FRAPPE)
    torch.manual_seed(0)
    no_fmb = variants["ablate_fmb"].build(FRAPPE)
    assert sum(t.numel() for t in full.parameters()) == sum(t.numel() for t in no_fmb.parameters())
    no_fmb.load_state_dict(full.state_dict())
    full.eval(), no_fmb.eval()
    batch = random_ctr_batches(1, 16, 0, list(FIELD_SIZES))[0]
    assert not torch.allclose(full(batch), no_fmb(batch))
    assert len(variants["wukong_l1"].build(FRAPPE).layers) == 1


def test_every_claimed_model_is_a_variant_of_every_profile() -> None:
    from papers.wukong.experiment import study
    paper = load_registry()["wukong"]
    claimed = {q.split(":")[0] for c in paper.claims for q in c.quantities()}
    for name, profile in paper.profiles.items():
        ctx = SimpleNamespace(params=paper.parse_params(profile.params), data_dir=None, work_dir=None)
        models = {v.rpartition(LR_TRIAL)[0] for v in study(ctx).variants}  # type: ignore[arg-type]
        assert claimed <= models, (name, claimed - models)
