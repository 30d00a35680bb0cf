"""NeuroShard's profile parameters (``[profiles.*.params]`` of ``paper.toml``); imports no torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BASELINES = ("random", "dim_greedy", "size_greedy", "lookup_greedy", "size_lookup_greedy")


@dataclass(frozen=True)
class Params:
    """Pre-train and search (Zha et al., MLSys'23): the benchmark, the pre-training data, the cost models
    and the search. Every seed of a run is one sharding task (task ``seed`` of the official task stream)."""

    oracle: Literal["measured_tbe", "surrogate"] = "measured_tbe"
    """The one cost oracle the cost models are trained on and every plan is scored by: fbgemm's fused TBE
    timed on CPU plus the all-to-all model, or the deterministic surrogate (tests only)."""
    pool_tables: int = 100
    """Synthetic dlrm-like tables in the pool (harness.sharding.generator; the official pool is 856)."""
    pool_seed: int = 0
    """Seed of the synthetic pool."""
    batch_size: int = 2048
    """Samples per batch: the tables' features are extracted from it and the kernels are timed on it
    (the official traces: 65,536)."""
    row_cap: int = 100_000
    """Rows allocated per table for timing (indices taken modulo); features and memory keep the true rows."""
    shared_tbe_cache: bool = True
    """Keep the measured shard timings in the per-user cache (``$REPRO_CACHE_DIR``, else
    ``~/.cache/recrepro/prepared``, file ``sharding/neuroshard_tbe.json``; keyed by the tables, the timing
    protocol, batch and row cap), so a rerun reuses them; False: a cold measurement in the run's folder."""
    warmup_iters: int = 5
    """Timed-oracle warm-up iterations (official compute_bench.py: 5)."""
    timed_iters: int = 10
    """Timed iterations reduced by their median (official compute_bench.py: 10)."""
    ndevices: int = 4
    """Devices per task (official eval.py: 4 GPUs)."""
    max_memory_gb: float = 4.0
    """Per-device memory cap in GB, fp32 sizes (official eval.py --max_mem 4)."""
    task_max_memory_gb: float = 15.0
    """A task is redrawn until its tables' fp32 size is at most this (official gen_tasks.py --max_mem 15)."""
    t_range: tuple[int, int] = (10, 60)
    """Tables per task, drawn from randint[low, high) (official gen_tasks.py)."""
    max_dim: int = 128
    """Dimensions are max_dim halved while divisible by 4: 128, 64, 32, 16, 8, 4 (official)."""
    task_seed: int = 0
    """Seed of the task stream; the run's seed s is task s of it."""
    compute_samples: int = 1000
    """Pre-training shards timed by the oracle (the official collection runs until stopped)."""
    max_tables: int = 15
    """At most this many tables per pre-training shard (official collect_compute_cost_data.py)."""
    sample_max_memory_gb: float = 4.0
    """A pre-training shard's fp32 size is at most this (official --max_mem 4)."""
    comm_samples: int = 2000
    """Pre-training samples of the communication cost models."""
    comm_t_range: tuple[int, int] = (10, 60)
    """Tables per communication sample (official collect_comm_cost_data.py --T_range)."""
    sleep_range_ms: tuple[int, int] = (1, 20)
    """Straggler spread of the communication samples: randint[low, high) ms (official --sleep_range)."""
    pretrain_seed: int = 0
    """Seed of the pre-training draws, splits and network initialisation (one pre-training per run)."""
    epochs: int = 300
    """Training epochs of each cost network; the best validation MSE is kept (official: 10 in the class,
    1000 in train_*_cost_model.py)."""
    cost_batch_size: int = 64
    """Cost-network minibatch (official 512 on ~100k samples)."""
    lr: float = 0.001
    """Adam learning rate of the cost networks (official)."""
    beam_k: int = 3
    """Beam width of the column-wise search (official shard(k=3))."""
    beam_n: int = 10
    """Candidate tables per beam entry: the top n by size and by predicted compute (official n=10)."""
    max_length: int = 10
    """Column splits per plan at most (official max_length=10)."""
    search_steps: int = 11
    """Dimension-balance scales tried by the greedy grid search, linspace(1.0, 1.5) (official 11)."""
    baselines: tuple[str, ...] = BASELINES
    """The official heuristic sharders; the best of them per task is the 'best baseline'."""
    torchrec_min_partition: int = 4
    """min_partition of TorchRec's column-wise sharding (TorchRec's MIN_CW_DIM 128 would never split these tables)."""
    torchrec_compute_device: Literal["cuda", "cpu"] = "cuda"
    """TorchRec planner's topology (simulated devices, the task's cap as their memory)."""
