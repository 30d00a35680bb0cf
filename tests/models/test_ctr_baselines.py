"""CTR baselines over the field-embedding front-end: FM, DCNv2, FinalMLP (hand-computed cases, shapes, gradients)."""

from __future__ import annotations

import itertools

import pytest
import torch

from harness.models.cross import CrossNet, LowRankCrossNet
from harness.models.dcn import DCNv2
from harness.models.fields import field_embeddings
from harness.models.finalmlp import BilinearFusion, FeatureGating, FinalMLP
from harness.models.flops import forward_flops
from harness.models.fm import FM, FMInteraction
from harness.models.linear import LogisticRegression
from harness.train.synthetic import random_ctr_batches

ROWS = [50, 7, 300, 20, 9]  # five one-hot fields, Frappe-like (no dense features)
SIZES = {f"f{i}": r for i, r in enumerate(ROWS)}


def _batch(batch_size: int = 16, num_dense: int = 0, seed: int = 0):  # type: ignore[no-untyped-def]
    return random_ctr_batches(1, batch_size, num_dense, ROWS, seed=seed)[0]


def _assert_every_parameter_learns(model: torch.nn.Module, batch) -> None:  # type: ignore[no-untyped-def]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch.labels)
    loss.backward()
    for name, param in model.named_parameters():
        if not param.numel():  # e.g. the weight of zero dense features
            continue
        assert param.grad is not None, name
        grad = param.grad.to_dense() if param.grad.is_sparse else param.grad
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_fm_pairwise_term_equals_the_double_loop() -> None:
    x = torch.randn(4, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    loop = sum((x[:, i] * x[:, j]).sum(dim=1) for i, j in itertools.combinations(range(6), 2))
    torch.testing.assert_close(FMInteraction()(x), loop)


def test_torchrec_factorization_machine_is_not_rendles_fm_for_d_above_1() -> None:
    """Why harness.models.fm does not use torchrec.modules.deepfm.FactorizationMachine (see its docstring):
    TorchRec's sums over all pairs of scalars of the flattened stack. If this starts to fail, switch to it."""
    from torchrec.modules.deepfm import FactorizationMachine

    x = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    flat = x.flatten(1)
    all_scalar_pairs = 0.5 * (flat.sum(1) ** 2 - (flat**2).sum(1))
    torch.testing.assert_close(FactorizationMachine()(embeddings=[x]).squeeze(1), all_scalar_pairs)
    assert not torch.allclose(all_scalar_pairs, FMInteraction()(x))


def test_fm_by_hand() -> None:
    """Fields v_1 = [1, 2], v_2 = [3, -1], v_3 = [0, 1]: <v1,v2> + <v1,v3> + <v2,v3> = 1 + 2 - 1 = 2."""
    x = torch.tensor([[[1.0, 2.0], [3.0, -1.0], [0.0, 1.0]]])
    torch.testing.assert_close(FMInteraction()(x), torch.tensor([2.0]))


def test_fm_model_is_logistic_regression_plus_pairwise_term() -> None:
    torch.manual_seed(0)
    model = FM(field_embeddings(SIZES, dim=4), LogisticRegression(0, SIZES))
    batch = _batch()
    logits = model(batch)
    assert logits.shape == (16,)
    torch.testing.assert_close(logits, model.linear(batch) + FMInteraction()(model.fields(batch)))
    _assert_every_parameter_learns(model, batch)


def test_dcnv2_cross_layer_by_hand() -> None:
    """x0 = [1, 2], W = [[1, 0], [2, 1]], b = [0, 1]: W x0 + b = [1, 5]; x0 * [1, 5] + x0 = [2, 12]."""
    net = CrossNet(in_features=2, num_layers=1).double()
    with torch.no_grad():
        net.kernels[0].copy_(torch.tensor([[1.0, 0.0], [2.0, 1.0]]))
        net.bias[0].copy_(torch.tensor([[0.0], [1.0]]))
    x0 = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(net(x0), torch.tensor([[2.0, 12.0]], dtype=torch.float64))


def test_dcnv2_low_rank_cross_layer_is_the_full_layer_with_w_equal_u_v() -> None:
    torch.manual_seed(0)
    low = LowRankCrossNet(in_features=6, num_layers=2, low_rank=2).double()
    full = CrossNet(in_features=6, num_layers=2).double()
    with torch.no_grad():
        for layer in range(2):
            full.kernels[layer].copy_(low.W_kernels[layer] @ low.V_kernels[layer])
            full.bias[layer].copy_(low.bias[layer].unsqueeze(1))
    x0 = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(low(x0), full(x0))


@pytest.mark.parametrize("structure, low_rank", [("parallel", None), ("stacked", 3)])
def test_dcnv2_model_shapes_layout_and_gradients(structure: str, low_rank: int | None) -> None:
    torch.manual_seed(0)
    model = DCNv2(field_embeddings(SIZES, dim=4), cross_layers=2, deep=[16, 8], low_rank=low_rank,
                  structure=structure)  # type: ignore[arg-type]
    batch = _batch()
    x0 = model.fields(batch).flatten(1)
    assert x0.shape == (16, 20)
    if structure == "parallel":
        expected = model.logit(torch.cat([model.cross(x0), model.deep(x0)], dim=1)).squeeze(1)
    else:
        expected = model.logit(model.deep(model.cross(x0))).squeeze(1)
    torch.testing.assert_close(model(batch), expected)
    _assert_every_parameter_learns(model, batch)


def test_dcnv2_with_dense_features_and_invalid_settings() -> None:
    torch.manual_seed(0)
    fields = field_embeddings(SIZES, dim=4, num_dense=3, bottom=[8])
    assert fields.num_fields == 6 and fields(_batch(num_dense=3)).shape == (16, 6, 4)
    assert DCNv2(fields, 1, [8])(_batch(num_dense=3)).shape == (16,)
    cross_only = DCNv2(fields, 2, [], structure="stacked")
    assert cross_only.deep is None and cross_only.logit.in_features == 24 and cross_only(_batch(num_dense=3)).shape == (16,)
    with pytest.raises(ValueError, match="cross layer"):
        DCNv2(fields, 0, [8])
    with pytest.raises(ValueError, match="parallel DCNv2 needs"):
        DCNv2(fields, 1, [])


def test_bilinear_fusion_by_hand() -> None:
    """o1 = [1, 2], o2 = [3]; w1 = [1, 1], b1 = 0, w2 = [2], b2 = 0.5, W3 = [[1], [2]]:
    w1.o1 + w2.o2 + b = 3 + 6 + 0.5 = 9.5; o1^T W3 o2 = (1 + 4) * 3 = 15; logit 24.5."""
    fusion = BilinearFusion(2, 1, num_heads=1)
    with torch.no_grad():
        fusion.linear_1.weight.copy_(torch.tensor([[1.0, 1.0]]))
        fusion.linear_1.bias.zero_()
        fusion.linear_2.weight.copy_(torch.tensor([[2.0]]))
        fusion.linear_2.bias.fill_(0.5)
        fusion.bilinear.copy_(torch.tensor([[[1.0], [2.0]]]))
    torch.testing.assert_close(fusion(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0]])), torch.tensor([24.5]))


def test_bilinear_fusion_heads_are_blockwise_bilinear_forms() -> None:
    torch.manual_seed(0)
    fusion = BilinearFusion(6, 4, num_heads=2).double()
    o_1, o_2 = torch.randn(5, 6, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    expected = fusion.linear_1(o_1).squeeze(1) + fusion.linear_2(o_2).squeeze(1)
    for h in range(2):
        expected = expected + ((o_1[:, 3 * h: 3 * h + 3] @ fusion.bilinear[h]) * o_2[:, 2 * h: 2 * h + 2]).sum(1)
    torch.testing.assert_close(fusion(o_1, o_2), expected)


def test_feature_gating_with_zero_gate_is_the_identity_and_uses_its_context() -> None:
    stack = torch.randn(3, 5, 4)
    gating = FeatureGating(5, 4, hidden=[8])
    with torch.no_grad():
        for p in gating.gate.parameters():
            p.zero_()
    torch.testing.assert_close(gating(stack), stack.flatten(1))  # 2 * sigmoid(0) = 1
    by_context = FeatureGating(5, 4, hidden=[], context_fields=[0])
    changed = stack.clone()
    changed[:, 0] += 1.0
    assert not torch.allclose(by_context(stack)[:, 4:], by_context(changed)[:, 4:])


def test_finalmlp_model_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    model = FinalMLP(field_embeddings(SIZES, dim=4), mlp_1=[16, 8], mlp_2=[12, 8], gate_hidden=[8], num_heads=2)
    batch = _batch()
    assert model(batch).shape == (16,)
    with torch.no_grad():  # the learned contexts start at zero (no gradient into the gates' first layer yet)
        model.gate_1.context.normal_()
        model.gate_2.context.normal_()
    _assert_every_parameter_learns(model, batch)
    ungated = FinalMLP(field_embeddings(SIZES, dim=4), mlp_1=[8], mlp_2=[8], gate_hidden=None)
    assert ungated.gate_1 is None and ungated(batch).shape == (16,)


def test_forward_flops_counts_matrix_products() -> None:
    """A 20 -> 16 -> 8 MLP on 4 examples: 2 * 4 * (20*16 + 16*8) = 3,584 FLOPs (ReLU not counted)."""
    mlp = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8))
    assert forward_flops(mlp, torch.randn(4, 20)) == 3_584
