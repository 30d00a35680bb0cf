"""Bytes actually held in memory by a module's tensors and by an optimizer's state.

The compression papers report memory; we measure it from the tensors (``nbytes`` of every
distinct storage), not from a formula, so that packing overheads (FP16 scales, codebooks, index
maps, projections) are counted.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


def tensors_nbytes(tensors: Iterable[torch.Tensor]) -> int:
    """Total bytes of the distinct storages behind `tensors` (a shared storage counts once)."""
    seen: set[int] = set()
    total = 0
    for tensor in tensors:
        if tensor.is_sparse:
            total += tensors_nbytes([tensor._indices(), tensor._values()])
            continue
        storage = tensor.untyped_storage()
        if storage.data_ptr() in seen:
            continue
        seen.add(storage.data_ptr())
        total += storage.nbytes()
    return total


def module_nbytes(module: nn.Module) -> int:
    """Bytes of all parameters and buffers of `module` (what a checkpoint of it stores)."""
    return tensors_nbytes(list(module.parameters()) + list(module.buffers()))


def parameter_count(module: nn.Module) -> int:
    """Number of trainable scalars of `module`."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def optimizer_state_nbytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the tensors an optimizer keeps besides the parameters (moments, counters, frequencies)."""
    tensors = [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    tensors += [v for group in optimizer.param_groups for k, v in group.items()
                if k != "params" and isinstance(v, torch.Tensor)]
    return tensors_nbytes(t for t in tensors if t.numel() > 1)
