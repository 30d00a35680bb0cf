"""The DHEN layer (arXiv 2203.11014, Eq. 1-7) by construction: zero modules, identity Linear, DLRM features, FLOPs."""

from __future__ import annotations

import itertools

import pytest
import torch

from harness.models.fields import field_embeddings
from harness.models.flops import forward_flops
from harness.train.synthetic import random_ctr_batches
from papers.dhen.dhen import (DHEN, MODULES, AdvancedDLRMModule, ConvModule, DCNModule, DHENLayer, LinearModule,
                              SelfAttentionModule, make_module)

ROWS = [50, 7, 300, 20, 9]


def _zero_(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for param in module.parameters():
            param.zero_()


@pytest.mark.parametrize("names", [("dlrm", "linear"), ("conv", "dcn")])
def test_layer_with_zero_interactions_is_layer_norm_of_its_input(names: tuple[str, ...]) -> None:
    """Every module zeroed: Y = LayerNorm(0 + X) with the identity shortcut (m = l).

    (A zeroed Transformer layer is not the zero map: it has its own residuals and norms.)"""
    torch.manual_seed(0)
    x = torch.randn(3, 5, 8)
    modules = [make_module(name, 5, 5, 8, dlrm_hidden=[16]) for name in names]
    for module in modules:
        _zero_(module)
    layer = DHENLayer(modules, 5, 5, 8)
    torch.testing.assert_close(layer(x), torch.nn.functional.layer_norm(x, (8,)))


def test_identity_linear_module_reproduces_its_input_and_layer_is_post_norm() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 5, 8)
    linear = LinearModule(5, 5)
    with torch.no_grad():
        linear.linear.weight.copy_(torch.eye(5))
    torch.testing.assert_close(linear(x), x)
    layer = DHENLayer([linear], 5, 5, 8)
    with torch.no_grad():
        layer.norm.weight.fill_(2.0)
        layer.norm.bias.fill_(0.5)
    # Post-norm: LayerNorm(W X + X) = LayerNorm(2 X), then the norm's own scale and shift.
    torch.testing.assert_close(layer(x), 2.0 * torch.nn.functional.layer_norm(2 * x, (8,)) + 0.5)


def test_advanced_dlrm_features_are_flattened_embeddings_and_dot_interaction() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    module = AdvancedDLRMModule(4, 2, 3, hidden=[8]).double()
    pairs = [(x[:, i] * x[:, j]).sum(dim=1) for i, j in itertools.combinations(range(4), 2)]
    torch.testing.assert_close(module.features(x), torch.cat([x.flatten(1), torch.stack(pairs, dim=1)], dim=1))
    assert module(x).shape == (2, 2, 3) and module.features_dim == 12 + 6


def test_other_modules_by_hand() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3)
    dcn = DCNModule(4, 3)
    flat = x.flatten(1)
    torch.testing.assert_close(dcn(x), (flat * (flat @ dcn.weight).unsqueeze(1) + dcn.bias).view(2, 4, 3))
    conv = ConvModule(4, 2)
    with torch.no_grad():
        conv.conv.weight.zero_()
        conv.conv.weight[0, 0, 1, 1] = 1.0  # the centre tap: the identity image
        conv.conv.bias.zero_()
        conv.projection.linear.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1.0]]))
    torch.testing.assert_close(conv(x), x[:, [0, 3]])
    assert SelfAttentionModule(4, 2, 3, num_heads=1)(x).shape == (2, 2, 3)


def test_shortcut_projection_and_ensembles() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 5, 8)
    concat = DHENLayer([LinearModule(5, 3), LinearModule(5, 3)], 5, 6, 8, ensemble="concat")
    assert concat.shortcut is not None and concat(x).shape == (3, 6, 8)
    weighted = DHENLayer([LinearModule(5, 5), LinearModule(5, 5)], 5, 5, 8, ensemble="weighted")
    with torch.no_grad():
        weighted.module_weights.copy_(torch.tensor([0.5, -2.0]))
    a, b = weighted.interactions
    torch.testing.assert_close(weighted(x), weighted.norm(0.5 * a(x) - 2.0 * b(x) + x))
    with pytest.raises(ValueError, match="unknown DHEN module"):
        make_module("moe", 5, 5, 8)
    assert set(MODULES) == {"dlrm", "linear", "attention", "conv", "dcn"}


def test_flops_of_one_layer_match_the_hand_count() -> None:
    """One layer {AdvancedDLRM, Linear}, m = l = 4, d = 8, DLRM MLP [16], batch 2 (FLOPs = 2 x multiply-adds):

    Gram matrix X X^T:              2 * B * m * m * d         = 2 * 2 * 4 * 4 * 8   =   512
    MLP, (m d + m(m-1)/2) = 38 -> 16: 2 * B * 38 * 16          = 2 * 2 * 38 * 16     = 2,432
    projection 16 -> l d = 32:      2 * B * 16 * 32           = 2 * 2 * 16 * 32     = 2,048
    Linear module W X (4 -> 4):     2 * B * d * m * l         = 2 * 2 * 8 * 4 * 4   =   512
    identity shortcut, sum, ReLU, LayerNorm: 0 (element-wise, not counted)
    total                                                                            = 5,504
    """
    layer = DHENLayer([make_module("dlrm", 4, 4, 8, dlrm_hidden=[16]), make_module("linear", 4, 4, 8)], 4, 4, 8)
    assert forward_flops(layer, torch.randn(2, 4, 8)) == 5_504


@pytest.mark.parametrize("ensemble", ["sum", "concat"])
def test_dhen_model_shapes_and_gradients(ensemble: str) -> None:
    torch.manual_seed(0)
    sizes = {f"f{i}": r for i, r in enumerate(ROWS)}
    model = DHEN(field_embeddings(sizes, dim=8), num_layers=2, modules=("dlrm", "linear"), ensemble=ensemble,
                 dlrm_hidden=[16], head=[16])  # type: ignore[arg-type]
    batch = random_ctr_batches(1, 16, 0, ROWS)[0]
    logits = model(batch)
    assert logits.shape == (16,)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.labels).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    # concat doubles the embedding count in layer 0 (5 -> 10: projected shortcut); layer 1 keeps 10.
    assert (model.layers[0].shortcut is None) == (ensemble == "sum") and model.layers[1].shortcut is None
