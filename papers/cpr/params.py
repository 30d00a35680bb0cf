"""The CPR reproduction's profile parameters (``[profiles.*.params]``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.params import DataParams


@dataclass(frozen=True)
class Params(DataParams):
    """Partial recovery (CPR, Maeng et al. 2021): the overhead simulation and the accuracy emulation."""

    dim: int = 16
    """Embedding dimension of the emulated DLRM (spec Sec. 5: dim 16)."""
    bottom: tuple[int, ...] = (13, 64, 16)
    """Bottom MLP widths, dense input to dim."""
    top: tuple[int, ...] = (64, 1)
    """Top MLP widths after the interaction, ending in the logit."""
    epochs: int = 1
    """Passes over the training split."""
    max_steps: int = 0
    """Above 0: stop each training after that many steps (smoke runs)."""
    lr: float = 0.001
    """Adam learning rate of the dense layers."""
    sparse_lr: float = 0.05
    """Row-wise Adagrad learning rate of the tables (fused FBGEMM kernel); its per-row state is checkpointed too."""
    shards: int = 8
    """N_emb: embedding parameter-server shards, rows assigned ``row % shards`` (spec Sec. 5: 8 virtual row shards)."""
    failures_per_epoch: float = 16.0
    """Expected failures per pass over the training split (Poisson, placed in samples processed); sets the MTBF."""
    pls_targets: tuple[float, ...] = (0.02, 0.1, 0.4)
    """Portions of lost samples for vanilla partial recovery; each sets its interval ``2 PLS N_emb MTBF``."""
    cpr_pls: float = 0.1
    """The PLS target CPR runs at (spec Sec. 5: 0.1, unverified); the accuracy claim and MFU/SSU use it."""
    priority_pls: float = 0.4
    """The PLS interval at which MFU and SSU are compared with vanilla partial recovery (equal bytes saved)."""
    budget: float = 0.125
    """MFU/SSU: fraction of each table's rows saved per partial save, one every ``budget`` x the interval."""
    ssu_rate: float = 0.0
    """SSU: probability that a lookup is recorded in the sampled set of used rows; 0: the rate at which one
    partial save's interval samples as many lookups as the budget has rows (the set then favours hot rows)."""
    full_saves_per_mtbf: float = 4.0
    """Full recovery in the emulation: saves per MTBF (its accuracy does not depend on it: the lost work is redone)."""
    variants: tuple[str, ...] = ("no_failure", "full", "partial", "mfu", "ssu")
    """Accuracy variants: no_failure, full, partial (one per PLS target), mfu, ssu."""
    sim_rates: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    """Failure rates of the overhead simulation, as multiples of the emulation point's (1 = the point)."""
    sim_shapes: tuple[float, ...] = (1.0, 0.7)
    """Gamma shapes of the simulated time between failures (1: Poisson; 0.7: burstier, spec Sec. 5 [U])."""
    sim_full_overhead: float = 0.0835
    """The emulation point: the MTBF at which full recovery's first-order overhead is this fraction (the
    paper's 8.2-8.5%, abstract)."""
    sim_failures: int = 500
    """Expected failures per simulated job at the emulation point (the job's length)."""
    sim_embedding_rows: int = 33_762_577
    """Rows of the simulated model's tables: the Criteo Kaggle DLRM's 26 tables (their cardinalities' sum)."""
    io_sizes_mib: tuple[int, ...] = (1, 4, 16, 64)
    """Sizes (MiB) at which checkpoint save/load is timed on this machine."""
    io_repeats: int = 3
    """Timings per size (median)."""
    restart_repeats: int = 3
    """Timed worker-process starts (median): the measured part of O_res."""
    restart_statement: str = "import torch"
    """What the timed worker process runs (a trainer's start imports torch; smoke: "pass", the bare interpreter)."""
    timing_steps: int = 20
    """Timed training steps of the DLRM (and of MFU/SSU's per-step tracking)."""
