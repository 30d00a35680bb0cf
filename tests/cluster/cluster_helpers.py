"""A tiny DLRM and random CTR batches shared by the cluster tests and their torchrun worker."""

from __future__ import annotations

import torch

from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.synthetic import random_ctr_batches

ROWS = [100, 50, 200, 30]
STEPS = 6


def tiny_dlrm(backend: str = "torchrec", seed: int = 0) -> DLRM:
    """4 tables (dim 8), bottom 4-16-8, top 16-1, initialised from `seed`."""
    torch.manual_seed(seed)
    return DLRM.from_tables([4, 16, 8], [16, 1], make_tables([f"f{i}" for i in range(len(ROWS))], ROWS, 8), backend=backend)


def batches(count: int = STEPS, batch_size: int = 32):  # type: ignore[no-untyped-def]
    """`count` global batches of `batch_size` random CTR rows (fixed seed)."""
    return random_ctr_batches(count, batch_size, 4, ROWS, seed=3)


def param_bytes(model: torch.nn.Module) -> int:
    """Bytes of every trainable parameter: the gradient payload one all-reduce of all gradients moves."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
