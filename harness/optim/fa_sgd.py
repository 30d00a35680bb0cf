"""Frequency-aware SGD (FA-SGD) and counter-based FA-SGD (CF-SGD) for embedding tables.

Reference: Y. Li, D. Choudhary, X. Wei, B. Yuan, B. Bhushanam, T. Zhao, G. Lan, "Frequency-aware
SGD for Efficient Embedding Learning with Provable Benefits", ICLR 2022, arXiv:2110.04844: SGD
with a *token-dependent learning rate set by the token's frequency*, known in advance (FA-SGD) or
estimated online by one counter per row (CF-SGD), so that rare rows take larger steps, the way
Adagrad/Adam implicitly do, at a fraction of their optimizer memory.

**The exact step-size formula of the paper could not be verified** (its Algorithm 1/2 was not in
any source available to us). We implement the documented form with the exponent of the
production counter-based SGD in FBGEMM (``LearningRateMode.COUNTER_SGD`` of
``rowwise_adagrad_with_counter``: step ``lr / sqrt(counter)``), which is also Adagrad's implicit
frequency scaling (its accumulator grows like ``t * p_k``):

    eta_k = lr * min((p_ref / p_k) ** exponent, max_scale),    exponent = 1/2 by default,

where ``p_k`` is row ``k``'s frequency and ``p_ref`` the largest frequency in its table, so the
most frequent row steps with ``lr`` and equal frequencies give plain SGD exactly. FA-SGD takes
``p_k`` from counts over the training data; CF-SGD keeps ``c_k`` = the number of steps in which
row ``k`` received a gradient and uses ``p_k = c_k / t`` (``p_ref / p_k = max_j c_j / c_k``).
Parameter groups without ``frequency`` are plain SGD (dense layers).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

COUNTER = "counter"


class FrequencyAwareSGD(torch.optim.Optimizer):
    """SGD whose embedding-row step sizes depend on row frequency (Li et al., ICLR'22; see module doc).

    Each parameter group may set ``frequency``: a tensor of per-row frequencies (FA-SGD; one entry
    per row of every 2-D parameter in the group), the string ``"counter"`` (CF-SGD), or ``None``
    (plain SGD). ``exponent`` and ``max_scale`` bound the per-row multiplier. Gradients may be
    dense or sparse (``nn.EmbeddingBag(sparse=True)``); a row counts as seen in a step when its
    gradient row is stored (sparse) or non-zero (dense).
    """

    def __init__(self, params: Iterable[Any], lr: float, frequency: torch.Tensor | str | None = None,
                 exponent: float = 0.5, max_scale: float = 100.0) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if exponent < 0 or max_scale < 1:
            raise ValueError(f"need exponent >= 0 and max_scale >= 1, got {exponent}, {max_scale}")
        defaults = {"lr": lr, "frequency": frequency, "exponent": exponent, "max_scale": max_scale}
        super().__init__(params, defaults)
        for group in self.param_groups:
            freq = group["frequency"]
            if isinstance(freq, str) and freq != COUNTER:
                raise ValueError(f"frequency must be a tensor, {COUNTER!r} or None, got {freq!r}")
            if isinstance(freq, torch.Tensor):
                for p in group["params"]:
                    if p.dim() != 2 or p.shape[0] != freq.numel():
                        raise ValueError(f"frequency has {freq.numel()} rows but a parameter of the group "
                                         f"has shape {tuple(p.shape)}")
                group["frequency"] = freq.to(group["params"][0].device, torch.float32)

    @staticmethod
    def _seen_rows(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row ids, gradient rows) of the rows that received a gradient this step."""
        if grad.is_sparse:
            grad = grad.coalesce()
            return grad.indices()[0], grad.values()
        rows = torch.nonzero(grad.abs().sum(dim=1) > 0).squeeze(1)
        return rows, grad[rows]

    def _scale(self, group: dict[str, Any], p: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Per-row multipliers ``min((p_ref / p_k) ** exponent, max_scale)`` for `rows`."""
        freq = group["frequency"]
        if isinstance(freq, torch.Tensor):
            ratio = freq.max() / freq[rows].clamp(min=torch.finfo(torch.float32).tiny)
        else:
            state = self.state[p]
            if "counter" not in state:
                state["counter"] = torch.zeros(p.shape[0], device=p.device, dtype=torch.float32)
            counter = state["counter"]
            counter[rows] += 1.0
            ratio = counter.max() / counter[rows]
        return ratio.pow(group["exponent"]).clamp(max=group["max_scale"])

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if group["frequency"] is None:
                    p.add_(p.grad, alpha=-group["lr"])
                    continue
                rows, grad_rows = self._seen_rows(p.grad)
                scale = self._scale(group, p, rows)
                p.index_add_(0, rows, grad_rows * (-group["lr"] * scale).unsqueeze(1).to(p.dtype))
        return loss
