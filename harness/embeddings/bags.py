"""Bag plumbing shared by the table modules: ``nn.EmbeddingBag``'s input conventions and pooling.

Every table here is called like ``nn.EmbeddingBag``: 1-D ids with bag `offsets`, or 2-D ids of
fixed-length bags and no offsets. Tables that compute one vector per id in their own way
(mixed-dimension blocks, codebook dequantization) then pool those vectors per bag here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def flatten_bags(input: torch.Tensor, offsets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, offsets)`` in the 1-D form: a 2-D ``[bags, length]`` input becomes fixed-length bags."""
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("offsets must be None when input is 2-D (fixed-length bags)")
        bags, length = input.shape
        return input.reshape(-1), torch.arange(0, bags * length, length, device=input.device)
    if offsets is None:
        raise ValueError("1-D input needs offsets (the start of every bag)")
    return input, offsets


def bag_lengths(offsets: torch.Tensor, num_ids: int) -> torch.Tensor:
    """The number of ids in each bag given its start `offsets` and the total id count."""
    return torch.diff(offsets, append=torch.tensor([num_ids], device=offsets.device, dtype=offsets.dtype))


def pool_rows(values: torch.Tensor, offsets: torch.Tensor, mode: str,
              per_sample_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Pool per-id vectors ``[ids, dim]`` into ``[bags, dim]`` by ``"sum"`` or ``"mean"`` (differentiable)."""
    positions = torch.arange(values.shape[0], device=values.device)
    return F.embedding_bag(positions, values, offsets, mode=mode, per_sample_weights=per_sample_weights)
