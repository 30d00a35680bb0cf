"""The DES reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.params import DataParams


@dataclass(frozen=True)
class Params(DataParams):
    """DES against table-wise embedding exchange and a parameter server (Rong et al., arXiv 1909.04823 v5).

    Sizes follow ../shared/research/spec-sharding-distributed.md Sec. 7 (default: B = 512, 2 gloo
    processes); the paper's industrial models and cluster are not public.
    """

    procs: int = 2
    """Processes of the real run when not under torchrun (1: a one-rank group, the pipeline only)."""
    dim: int = 16
    """k: width of the FM factors (the deep part reads the same embeddings)."""
    hidden: tuple[int, ...] = (64, 32)
    """Deep MLP widths after the concatenated embeddings (the first is h, summed by DES)."""
    steps: int = 0
    """Training steps of each method (0: one pass over the training split)."""
    lr: float = 0.05
    """Plain SGD learning rate of every parameter (the same update on one process and on N)."""
    sweep_workers: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    """Worker counts of the byte curves (configuration arithmetic; PS counted on the id stream)."""
    sweep_batches: tuple[int, ...] = (512, 2048, 8192)
    """Global batch sizes of the byte curves."""
    sweep_steps: int = 4
    """Training batches whose ids the PS curve counts (unique rows per worker and table)."""
    link_gbps: float = 10.0
    """Declared per-worker network bandwidth of the simulated CPU cluster (Gbit/s)."""
    link_latency_us: float = 50.0
    """Declared per-message latency of the simulated cluster (microseconds)."""
    timing_repeats: int = 20
    """Timed compute steps per method for the simulator's measured service times."""
