"""Blocks of consecutive values along one axis: the grouping every block format shares.

MX (arXiv 2310.10537, Sec. 3) and BDR (arXiv 2302.08007) share one scale across ``k`` consecutive
values along the reduction axis of a dot product. :func:`to_blocks` moves that axis last, zero-pads
it to a multiple of ``k`` (a zero never changes a block's maximum) and splits it into
``[..., blocks, k]``; :func:`from_blocks` undoes the three steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class BlockLayout:
    """How :func:`to_blocks` reshaped a tensor: the axis it moved and the length before padding."""

    axis: int
    length: int
    shape: torch.Size  # the shape with the block axis moved last, before padding


def to_blocks(x: torch.Tensor, block_size: int, axis: int = -1) -> tuple[torch.Tensor, BlockLayout]:
    """Split `axis` of `x` into blocks of `block_size`: returns ``[..., ceil(n / k), k]`` and its layout.

    The last partial block is padded with zeros (microxcaling's ``_reshape_to_blocks`` does the same);
    a 0-d tensor is treated as one value.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be a positive number of values, got {block_size}")
    if x.dim() == 0:
        x = x.reshape(1)
    axis = axis % x.dim()
    moved = x.movedim(axis, -1)
    length = moved.shape[-1]
    padded = F.pad(moved, (0, -length % block_size))
    blocks = padded.reshape(*moved.shape[:-1], -(-length // block_size), block_size)
    return blocks, BlockLayout(axis, length, moved.shape)


def from_blocks(blocks: torch.Tensor, layout: BlockLayout, like: torch.Tensor) -> torch.Tensor:
    """Undo :func:`to_blocks`: drop the padding, put the axis back, and take the shape of `like`."""
    flat = blocks.reshape(*layout.shape[:-1], blocks.shape[-2] * blocks.shape[-1])[..., : layout.length]
    return flat.movedim(-1, layout.axis).reshape(like.shape)
