"""The CTR zoo's pieces: FieldDLRM (BARS DLRM and the AdvancedDLRM reading), the dense mixture of experts, the baselines."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch

from harness.ctr_zoo import BASELINES, ZooParams, baseline_builders, baseline_variants
from harness.errors import ConfigError
from harness.models.dlrm import FieldDLRM
from harness.models.fields import field_embeddings
from harness.models.flops import forward_flops
from harness.models.mlp import MLP
from harness.models.moe import MixtureOfExperts
from harness.train.synthetic import random_ctr_batches

ROWS = [50, 7, 300, 20, 9]
SIZES = {f"f{i}": r for i, r in enumerate(ROWS)}


def _batch(num_dense: int = 0):  # type: ignore[no-untyped-def]
    return random_ctr_batches(1, 8, num_dense, ROWS, seed=0)[0]


def test_field_dlrm_reads_the_pairwise_dot_products_of_the_fields() -> None:
    torch.manual_seed(0)
    model = FieldDLRM(field_embeddings(SIZES, dim=4), top=[6])
    x = model.fields(_batch())
    pairs = torch.stack([(x[:, i] * x[:, j]).sum(1) for i, j in itertools.combinations(range(5), 2)], dim=1)
    torch.testing.assert_close(model.features(x), pairs)
    assert model.features_dim == 10 and model(_batch()).shape == (8,)


def test_field_dlrm_with_embeddings_and_with_a_dense_field() -> None:
    torch.manual_seed(0)
    advanced = FieldDLRM(field_embeddings(SIZES, dim=4), top=[6], with_embeddings=True)
    x = advanced.fields(_batch())
    assert advanced.features_dim == 5 * 4 + 10
    torch.testing.assert_close(advanced.features(x)[:, :20], x.flatten(1))
    dense = FieldDLRM(field_embeddings(SIZES, dim=4, num_dense=3, bottom=[8]), top=[6])
    stacked = dense.fields(_batch(num_dense=3))
    assert dense.features_dim == 4 + 15  # the bottom-MLP vector and the pairs of 6 fields
    torch.testing.assert_close(dense.features(stacked)[:, :4], stacked[:, 0])


def test_mixture_of_one_expert_is_its_mlp_and_experts_cost_linearly() -> None:
    torch.manual_seed(0)
    moe = MixtureOfExperts(12, [8, 4], num_experts=1)
    x = torch.randn(5, 12)
    torch.testing.assert_close(moe(x), moe.experts.experts[0](x))  # softmax over one expert is 1
    flops = {e: forward_flops(MixtureOfExperts(12, [8, 4], e), x) for e in (2, 4)}
    per_expert = forward_flops(MLP([12, 8, 4]), x)
    assert flops == {e: e * per_expert + 2 * 5 * 12 * e + 2 * 5 * e * 4 for e in (2, 4)}  # experts, gate, mix


def test_field_dlrm_with_experts_mixes_them_before_the_logit() -> None:
    torch.manual_seed(0)
    model = FieldDLRM(field_embeddings(SIZES, dim=4), top=[6, 3], with_embeddings=True, experts=3)
    assert isinstance(model.top, MixtureOfExperts) and len(model.top.experts) == 3
    logits = model(_batch())
    assert logits.shape == (8,)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, _batch().labels).backward()
    assert all(p.grad is not None for p in model.top.gate.parameters())


def test_every_baseline_builds_and_predicts_on_frappe_shaped_data() -> None:
    splits = SimpleNamespace(table_sizes=SIZES, num_dense=0)
    p = ZooParams(dim=4, dlrm_top=(8,), deep=(8,), finalmlp_mlp=(8,), finalmlp_gate=(8,), cross_layers=1)
    for name, (_, build) in baseline_builders(p).items():
        torch.manual_seed(0)
        assert build(splits)(_batch()).shape == (8,), name
    assert set(baseline_builders(p)) == set(BASELINES)
    with pytest.raises(ConfigError, match="unknown baseline"):
        baseline_variants(p, ["dlrm", "xdeepfm"])
