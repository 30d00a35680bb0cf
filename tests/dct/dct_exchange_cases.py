"""Fixed per-worker gradients shared by the DCT exchange tests and their torchrun worker."""

from __future__ import annotations

import torch

SIZE, STEPS, KEEP, PERIOD = 40, 4, 0.1, 2


def gradient(step: int, worker: int) -> torch.Tensor:
    """Worker `worker`'s gradient at `step` (seeded, distinct magnitudes so no ties at the threshold)."""
    generator = torch.Generator().manual_seed(1000 * step + worker)
    return torch.randn(SIZE, generator=generator)
