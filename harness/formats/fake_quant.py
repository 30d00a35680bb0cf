"""Fake quantisation of models: quantise-dequantise the operands of every matmul, keep the rest in FP32.

Direct-cast inference in the MX paper (Rouhani et al., arXiv 2310.10537, Sec. 4.1) and the BDR
paper (arXiv 2302.08007) quantises the two inputs of each dot product -- the weights and the
activations entering a layer -- in blocks along the **reduction** axis (``in_features`` of an
``nn.Linear``), while vector operations (bias, activations, sigmoid) stay in higher precision; here
they stay FP32 to isolate the format's effect. Nothing is recalibrated (that would be PTQ).

* :class:`FakeQuantize` / :func:`fake_quantize`: quantise-dequantise with a straight-through
  gradient (identity), for quantisation-aware training.
* :class:`QuantizedLinear`: an ``nn.Linear`` whose input and weight are fake-quantised along
  ``in_features``. With a `gradient_format` its backward quantises the operands of both gradient
  matmuls along *their* reduction axes (``out_features`` for the input gradient, the batch for the
  weight gradient), as the MX paper's training emulation does: quantisation and transposition do
  not commute, so each matmul re-quantises from the FP32 values.
* :func:`quantize_linears`: swap every ``nn.Linear`` of a model for a :class:`QuantizedLinear`
  sharing its parameters (state-dict keys, optimizers and checkpoints are unchanged).
* :func:`quantize_module_inputs`: a forward pre-hook fake-quantising a module's tensor inputs, for
  matmuls that are not ``nn.Linear`` (DLRM's dot interaction: ``harness.models.interaction``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from harness.formats.elements import Rounding
from harness.formats.registry import NumberFormat, number_format


def resolve_format(fmt: str | NumberFormat) -> NumberFormat:
    """The format object for a name of :data:`harness.formats.registry.FORMATS` (objects pass through)."""
    return number_format(fmt) if isinstance(fmt, str) else fmt


def quantize(x: torch.Tensor, fmt: str | NumberFormat, axis: int = -1, rounding: Rounding = "even") -> torch.Tensor:
    """Quantise-dequantise `x` in `fmt` along `axis` (no gradient)."""
    return resolve_format(fmt).quantize(x, axis, rounding)


class FakeQuantize(torch.autograd.Function):
    """Quantise-dequantise in the forward pass; pass the gradient through unchanged (straight-through estimator).

    Bengio et al. 2013's STE as the MX emulator uses it: ``dQ(x)/dx = 1`` everywhere, saturated values
    included.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, fmt: NumberFormat, axis: int,
                rounding: Rounding) -> torch.Tensor:
        return quantize(x, fmt, axis, rounding)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        return grad, None, None, None


def fake_quantize(x: torch.Tensor, fmt: str | NumberFormat, axis: int = -1, rounding: Rounding = "even") -> torch.Tensor:
    """`x` fake-quantised along `axis`, differentiable through :class:`FakeQuantize`'s straight-through gradient."""
    return FakeQuantize.apply(x, resolve_format(fmt), axis, rounding)


class _QuantizedMatmulGradients(torch.autograd.Function):
    """``y = Q(x) Q(W)^T + b`` whose backward also runs in the formats (MX paper's training emulation).

    Input gradient ``Q_g(dy) Q_w(W)``, blocks along ``out_features``; weight gradient
    ``Q_g(dy)^T Q_x(x)``, blocks along the batch. `x` is 2-D ``[rows, in_features]``.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                formats: tuple[NumberFormat, NumberFormat, NumberFormat], rounding: Rounding) -> torch.Tensor:
        input_format, weight_format, _ = formats
        ctx.save_for_backward(x, weight)
        ctx.formats, ctx.rounding, ctx.has_bias = formats, rounding, bias is not None
        return F.linear(quantize(x, input_format, -1, rounding), quantize(weight, weight_format, 1, rounding), bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        x, weight = ctx.saved_tensors
        input_format, weight_format, gradient_format = ctx.formats
        r = ctx.rounding
        grad_x = quantize(grad, gradient_format, -1, r) @ quantize(weight, weight_format, 0, r)
        grad_w = quantize(grad, gradient_format, 0, r).t() @ quantize(x, input_format, 0, r)
        grad_b = grad.sum(0) if ctx.has_bias else None
        return grad_x, grad_w, grad_b, None, None


class QuantizedLinear(nn.Linear):
    """``nn.Linear`` with its input and weight fake-quantised in blocks along ``in_features``.

    `input_format` and `weight_format` may differ (the MX paper trains with MXFP4 weights and MXFP6
    activations). Without `gradient_format` the backward is straight-through in FP32; with it, both
    gradient matmuls are quantised too (:class:`_QuantizedMatmulGradients`). The bias add stays FP32.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 weight_format: str | NumberFormat, input_format: str | NumberFormat | None = None,
                 gradient_format: str | NumberFormat | None = None, rounding: Rounding = "even",
                 device: torch.device | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self.weight_format = resolve_format(weight_format)
        self.input_format = resolve_format(input_format if input_format is not None else weight_format)
        self.gradient_format = None if gradient_format is None else resolve_format(gradient_format)
        self.rounding = rounding

    @classmethod
    def from_linear(cls, linear: nn.Linear, **formats: Any) -> "QuantizedLinear":
        """A :class:`QuantizedLinear` holding `linear`'s own parameter objects (no copy)."""
        quantized = cls(linear.in_features, linear.out_features, linear.bias is not None,
                        device=torch.device("meta"), **formats)
        quantized.weight, quantized.bias = linear.weight, linear.bias
        return quantized

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``Q(x) Q(W)^T + b`` for ``x [..., in_features]``."""
        if self.gradient_format is not None and torch.is_grad_enabled():
            flat = x.reshape(-1, self.in_features)
            formats = (self.input_format, self.weight_format, self.gradient_format)
            y = _QuantizedMatmulGradients.apply(flat, self.weight, self.bias, formats, self.rounding)
            return y.reshape(*x.shape[:-1], self.out_features)
        return F.linear(fake_quantize(x, self.input_format, -1, self.rounding),
                        fake_quantize(self.weight, self.weight_format, 1, self.rounding), self.bias)

    def extra_repr(self) -> str:
        """The layer's shape and its formats."""
        grad = self.gradient_format.name if self.gradient_format is not None else "fp32 (straight-through)"
        return (f"{super().extra_repr()}, weight={self.weight_format.name}, input={self.input_format.name}, "
                f"gradient={grad}")


def quantize_linears(model: nn.Module, weight_format: str | NumberFormat, *,
                     input_format: str | NumberFormat | None = None,
                     gradient_format: str | NumberFormat | None = None, rounding: Rounding = "even",
                     include: Callable[[str, nn.Linear], bool] | None = None) -> list[str]:
    """Replace, in place, every ``nn.Linear`` of `model` (those `include(name, layer)` accepts) by a
    :class:`QuantizedLinear` sharing its parameters; returns the replaced modules' names."""
    targets = [(name, module) for name, module in model.named_modules()
               if type(module) is nn.Linear and (include is None or include(name, module))]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, QuantizedLinear.from_linear(
            linear, weight_format=weight_format, input_format=input_format,
            gradient_format=gradient_format, rounding=rounding))
    return [name for name, _ in targets]


def quantize_module_inputs(module: nn.Module, fmt: str | NumberFormat, axis: int = -1,
                           rounding: Rounding = "even") -> RemovableHandle:
    """Fake-quantise every floating-point tensor passed positionally to `module`, along `axis`.

    For a matmul inside a module's forward (DLRM's dot interaction takes ``dense [B, D]`` and
    ``sparse [B, F, D]``; its dot products reduce over ``D``, so ``axis=-1``). Returns the hook's
    handle: ``handle.remove()`` restores full precision.
    """
    resolved = resolve_format(fmt)

    def hook(_: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(fake_quantize(a, resolved, axis, rounding)
                     if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
    return module.register_forward_pre_hook(hook)
