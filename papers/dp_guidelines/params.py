"""The data-parallel guidelines reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.params import DataParams


@dataclass(frozen=True)
class Params(DataParams):
    """Zou et al.'s guidelines (ADMA 2017) transferred to a DLRM: the minibatch knee measured on this CPU,
    the GPU and parameter-server counts simulated with measured service times."""

    dataset: str = "synthetic-ctr-teacher-small"
    batch_sizes: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
    """Per-GPU minibatch sizes whose training throughput is measured (the knee procedure)."""
    knee_fraction: float = 0.9
    """The knee: the smallest minibatch reaching this fraction of the best measured throughput."""
    timing_steps: int = 10
    """Timed training steps per minibatch size (after 2 untimed)."""
    dim: int = 16
    """Embedding dimension of the small model."""
    mlp: int = 64
    """Hidden width of the small model's bottom and top MLPs."""
    large_dim: int = 64
    """Embedding dimension of the large model (the model-size side of the parameter-server lemma)."""
    large_mlp: int = 256
    """Hidden width of the large model's MLPs."""
    ps_batch: int = 256
    """Per-GPU minibatch of the parameter-server study."""
    gpus: tuple[int, ...] = (8, 32, 64)
    """Simulated GPU (worker) counts of the parameter-server study."""
    ps_shards: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
    """Simulated parameter-server shard counts."""
    workers: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    """Simulated worker counts of the synchronous all-reduce scaling study."""
    sim_iterations: int = 100
    """Simulated iterations per worker (the horizon)."""
    comm_fit: Literal["measured", "declared"] = "measured"
    """Gloo alpha-beta fit: measured in this run (2 torchrun processes), or the harness README's declared one."""
