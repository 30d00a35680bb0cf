"""The ShadowSync reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.params import DataParams


@dataclass(frozen=True)
class Params(DataParams):
    """Shadow against foreground synchronisation of N data-parallel DLRM trainers (arXiv 2003.03477 v3).

    Quality (one pass, real 2-process gloo under ``--nproc 2``, else `workers` virtual workers)
    and simulated scaling with service times measured on this machine.
    """

    dataset: str = "synthetic-ctr-teacher"
    train_rows: int = 200_000
    """Training rows read once (one pass: each example is seen by one worker once); 0: the whole split."""
    workers: int = 4
    """Virtual workers when the run has one process (``--nproc N`` uses the N real processes instead)."""
    dim: int = 16
    """Embedding dimension."""
    bottom: tuple[int, ...] = (13, 64, 16)
    """Bottom MLP widths (dense input to the embedding dimension)."""
    top: tuple[int, ...] = (64, 1)
    """Top MLP widths after the dot interaction."""
    lr: float = 0.05
    """Adagrad learning rate of every replica (tables and MLPs; the optimiser state stays local)."""
    methods: tuple[str, ...] = ("sync", "fg_ma", "fg_ma_gap", "shadow_ma", "fg_easgd", "shadow_easgd")
    """Trained variants: sync (gradients all-reduced every step), fg_<rule> (the rule every `every`
    iterations in the training loop), fg_<rule>_gap (every `shadow_gap` iterations: the shadow's gap),
    shadow_<rule> (a background thread); rules ma (model averaging) and easgd (elastic averaging)."""
    every: int = 10
    """k of the foreground baselines (FR-EASGD / MA every k iterations; the paper's k values are unverified)."""
    shadow_gap: int = 0
    """Virtual workers: iterations between two shadow syncs; 0 takes the simulated gap (measured step and
    gloo all-reduce times), at least 1. Real processes: the gap emerges from the thread."""
    easgd_alpha: float = 0.1
    """Elastic moving rate alpha of EASGD (x_i -= alpha (x_i - center); center += alpha sum_i (x_i - center))."""
    sim_workers: tuple[int, ...] = (1, 2, 4, 8, 12, 16, 20)
    """Simulated trainer counts for the scaling curve."""
    sim_iterations: int = 200
    """Simulated iterations per worker (the horizon)."""
    timing_steps: int = 20
    """Real training steps timed for the simulator's compute service time."""
    comm_fit: Literal["measured", "declared"] = "measured"
    """Gloo alpha-beta fit: measured in this run (2 torchrun processes), or the harness README's declared one."""
