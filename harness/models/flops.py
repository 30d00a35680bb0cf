"""FLOPs of a model's forward pass, counted from the operators it runs (``torch.utils.flop_counter``).

The architecture papers state cost in FLOPs per example (Wukong, Zhang et al. 2024, Table 3 and
Fig. 1; DHEN, Zhang et al. 2022, Table 3) and compare models at matched FLOPs. PyTorch's
:class:`~torch.utils.flop_counter.FlopCounterMode` counts matrix products (``mm``, ``addmm``,
``bmm``, ``baddbmm``, convolutions, attention) as 2 FLOPs per multiply-add, from the shapes the
model actually runs; element-wise operations (activations, normalisation, additions) and
embedding lookups are not counted. This is the "dense FLOPs" convention; say so wherever a
number is reported.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def forward_flops(module: nn.Module, *inputs: Any) -> int:
    """FLOPs of one forward pass of `module` on `inputs` (matrix products only, 2 per multiply-add).

    The pass runs in evaluation mode (no dropout, batch norm from its running statistics, which
    it leaves untouched) with autograd on: FlopCounterMode's module tracker hooks every module
    input, and under ``no_grad`` a view of a parameter (FinalMLP's learned gate context expanded
    over the batch) trips it. The module's training mode is restored afterwards.
    """
    training = module.training
    module.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            module(*inputs)
    finally:
        module.train(training)
    return int(counter.get_total_flops())


def flops_per_example(module: nn.Module, batch: Any, batch_size: int) -> float:
    """Forward FLOPs per example: :func:`forward_flops` on `batch` divided by its `batch_size`."""
    return forward_flops(module, batch) / batch_size
