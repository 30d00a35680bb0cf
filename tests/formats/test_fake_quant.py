"""Fake-quantised models: straight-through gradients, quantised linears, input hooks, the harness DLRM."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import ConfigError
from harness.formats.fake_quant import (
    QuantizedLinear, fake_quantize, quantize, quantize_linears, quantize_module_inputs)
from harness.formats.mx import mx_quantize
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.synthetic import random_ctr_batches

ROWS = [100, 50, 200, 30]


def small_dlrm(seed: int = 0) -> DLRM:
    """The harness DLRM at smoke size: 4 tables of dim 8, bottom 4-16-8, top 16-1."""
    torch.manual_seed(seed)
    return DLRM.from_tables([4, 16, 8], [16, 1], make_tables([f"f{i}" for i in range(len(ROWS))], ROWS, 8))


def test_straight_through_gradient_is_identity() -> None:
    x = (torch.randn(4, 64) * 10).requires_grad_()
    y = fake_quantize(x, "mxfp4")
    assert torch.equal(y.detach(), mx_quantize(x.detach(), "mxfp4"))
    (y * torch.arange(64.0)).sum().backward()
    assert torch.equal(x.grad, torch.arange(64.0).expand(4, 64))


def test_quantized_linear_quantises_input_and_weight_along_in_features() -> None:
    linear = nn.Linear(70, 5)
    x = torch.randn(3, 2, 70)
    layer = QuantizedLinear.from_linear(linear, weight_format="mxfp6_e2m3", input_format="mxint8")
    assert layer.weight is linear.weight and layer.bias is linear.bias
    expected = F.linear(mx_quantize(x, "mxint8"), mx_quantize(linear.weight, "mxfp6_e2m3", axis=1), linear.bias)
    assert torch.equal(layer(x), expected)
    assert "weight=mxfp6_e2m3, input=mxint8" in repr(layer)


def test_quantized_backward_quantises_both_gradient_matmuls_along_their_reduction_axes() -> None:
    gen = torch.Generator().manual_seed(0)
    linear = nn.Linear(40, 36)
    x = torch.randn(50, 40, generator=gen).requires_grad_()
    grad = torch.randn(50, 36, generator=gen)
    layer = QuantizedLinear.from_linear(linear, weight_format="mxfp6_e3m2", gradient_format="mxfp8_e5m2")
    layer(x).backward(grad)

    def q(t: torch.Tensor, fmt: str, axis: int) -> torch.Tensor:
        return quantize(t, fmt, axis)
    assert torch.equal(x.grad, q(grad, "mxfp8_e5m2", -1) @ q(linear.weight, "mxfp6_e3m2", 0))
    assert torch.equal(linear.weight.grad, q(grad, "mxfp8_e5m2", 0).t() @ q(x.detach(), "mxfp6_e3m2", 0))
    assert torch.equal(linear.bias.grad, grad.sum(0))
    with torch.no_grad():  # inference takes the plain path, same forward
        assert torch.equal(layer(x), F.linear(q(x, "mxfp6_e3m2", -1), q(linear.weight, "mxfp6_e3m2", 1), linear.bias))


def test_straight_through_backward_without_a_gradient_format() -> None:
    linear = nn.Linear(40, 6)
    x = torch.randn(8, 40).requires_grad_()
    QuantizedLinear.from_linear(linear, weight_format="mxfp4")(x).sum().backward()
    assert torch.equal(x.grad, torch.ones(8, 6) @ mx_quantize(linear.weight.detach(), "mxfp4", axis=1))


def test_quantize_linears_keeps_parameters_and_state_dict() -> None:
    model = small_dlrm()
    keys = list(model.state_dict())
    weight = model.top.layers[0].weight
    replaced = quantize_linears(model, "mxint8", include=lambda name, _: name.startswith("top."))
    assert replaced == ["top.layers.0", "top.layers.2"]
    assert isinstance(model.top.layers[0], QuantizedLinear) and type(model.bottom.layers[0]) is nn.Linear
    assert model.top.layers[0].weight is weight and list(model.state_dict()) == keys


def test_input_hook_quantises_the_dot_interaction_along_the_embedding_dimension() -> None:
    model = small_dlrm()
    dense, sparse = torch.randn(5, 8), torch.randn(5, 4, 8)
    handle = quantize_module_inputs(model.interaction, "mxfp4")
    expected = model.interaction.forward(mx_quantize(dense, "mxfp4"), mx_quantize(sparse, "mxfp4"))
    assert torch.equal(model.interaction(dense, sparse), expected)
    handle.remove()
    assert not torch.equal(model.interaction(dense, sparse), expected)


def direct_cast_error(model: DLRM, fmt: str, batch: object) -> float:
    """Relative L2 error of the logits with every Linear and the interaction inputs in `fmt`."""
    quantized = copy.deepcopy(model)
    quantize_linears(quantized, fmt)
    quantize_module_inputs(quantized.interaction, fmt)
    with torch.no_grad():
        reference, logits = model(batch), quantized(batch)
    return float((logits - reference).norm() / reference.norm())


def test_dlrm_direct_cast_error_grows_as_precision_falls() -> None:
    """Smoke-size DLRM: MXINT8 logits stay within 1% of FP32; MXFP4's error is several times larger."""
    batch = random_ctr_batches(1, 512, 4, ROWS, seed=3)[0]
    errors = {fmt: [direct_cast_error(small_dlrm(seed), fmt, batch) for seed in range(3)]
              for fmt in ("mxint8", "mxfp6_e2m3", "mxfp4", "mx9", "mx4")}
    assert max(errors["mxint8"]) < 0.01 and max(errors["mx9"]) < 0.01
    assert min(errors["mxfp4"]) > 4 * max(errors["mxint8"])
    assert min(errors["mx4"]) > 4 * max(errors["mx9"])
    assert max(errors["mxint8"]) < min(errors["mxfp6_e2m3"]) < max(errors["mxfp6_e2m3"]) < min(errors["mxfp4"])


def test_dlrm_trains_with_quantised_forward_and_backward() -> None:
    """A few steps of MXFP6 E3M2 training (forward and both gradient matmuls) lower the loss."""
    model = small_dlrm()
    quantize_linears(model, "mxfp6_e3m2", gradient_format="mxfp6_e3m2", rounding="away")
    quantize_module_inputs(model.interaction, "mxfp6_e3m2")
    batches = random_ctr_batches(4, 64, 4, ROWS, seed=5)
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.05)
    losses = []
    for _ in range(15):
        total = 0.0
        for batch in batches:
            loss = F.binary_cross_entropy_with_logits(model(batch), batch.labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(batches))
    assert losses[-1] < 0.9 * losses[0]


def test_unknown_format_name_fails_before_any_change() -> None:
    model = small_dlrm()
    with pytest.raises(ConfigError, match="unknown number format"):
        quantize_linears(model, "mxfp7")
    assert not any(isinstance(m, QuantizedLinear) for m in model.modules())
