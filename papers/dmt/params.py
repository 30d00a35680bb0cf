"""The DMT reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.params import DataParams


@dataclass(frozen=True)
class Params(DataParams):
    """DMT's tower transform, its bytes by host and link, the towers' quality and the simulated speed-up.

    Sizes follow ../shared/research/spec-sharding-distributed.md Sec. 10 (2 hosts x 2 ranks on gloo;
    towers aligned with the synthetic teacher's planted feature groups); the DLRM recipe is the one
    the teacher data was calibrated with (harness/data/teacher_ctr.py).
    """

    procs: int = 4
    """Processes of the real run when not under torchrun (hosts x local_ranks; 1: a one-rank group)."""
    hosts: int = 2
    """Simulated hosts of the real run, one tower each (under torchrun: world // local_ranks)."""
    local_ranks: int = 2
    """Ranks per host of the real run."""
    exchange_batch: int = 512
    """Global batch of the equivalence and byte-count step."""
    dim: int = 16
    """Embedding dimension."""
    bottom: tuple[int, ...] = (13, 64, 16)
    """Bottom MLP widths (dense input to the embedding dimension)."""
    top: tuple[int, ...] = (64, 1)
    """Top MLP widths after the interaction, ending in the logit."""
    groups: int = 4
    """Planted feature groups of the data (field j in group j % groups); towers gather whole groups."""
    compression: int = 4
    """TM compression: a tower of F_t features emits ceil(F_t / compression) vectors."""
    models: tuple[str, ...] = ("flat", "dmt", "dmt_random")
    """Trained variants: flat DLRM, DMT with towers aligned to the groups, DMT with random towers."""
    epochs: int = 1
    """Training epochs of each variant."""
    lr: float = 0.001
    """Adam learning rate of the MLPs and TMs."""
    sparse_lr: float = 0.05
    """Row-wise Adagrad learning rate of the tables (FBGEMM fused)."""
    sim_hosts: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    """Host counts of the simulated speed-up curve."""
    sim_local_ranks: int = 8
    """GPUs per host in the simulation (the paper's 8-GPU hosts)."""
    sim_batch_per_rank: int = 512
    """Per-GPU batch of the simulated model (declared)."""
    sim_features: int = 256
    """Sparse features of the simulated model (declared, DLRM-like)."""
    sim_dim: int = 128
    """Embedding dimension of the simulated model (declared)."""
    intra_gbytes: float = 600.0
    """Intra-host bandwidth per GPU, GB/s (TorchRec planner INTRA_NODE_BANDWIDTH, 600 GiB/s)."""
    inter_gbytes: float = 12.5
    """Cross-host bandwidth per GPU, GB/s (TorchRec planner CROSS_NODE_BANDWIDTH, 12.5 GiB/s)."""
    intra_latency_us: float = 5.0
    """Intra-host message latency (declared)."""
    inter_latency_us: float = 20.0
    """Cross-host message latency (declared)."""
    comm_share: float = 0.275
    """Share of the flat step spent in embedding all-to-all at the smallest simulated host count (declared,
    unverified secondary note; spec Sec. 10 experiments (b))."""
