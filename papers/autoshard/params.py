"""AutoShard's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Params:
    """AutoShard (Zha et al., KDD 2022) against the greedy sharders and TorchRec's planner."""

    oracle: Literal["measured_tbe", "surrogate"] = "measured_tbe"
    """Who measures a shard's cost, for the rewards and for every method's score: fbgemm's fused TBE
    timed on CPU (the official bench on the host) or the deterministic surrogate (tests only)."""
    pool_tables: int = 200
    """Synthetic dlrm-like tables in the pool (harness.sharding.generator, fitted to locality_stats.txt)."""
    pool_seed: int = 0
    """Seed of the table pool (the same pool for every run seed; each seed draws its own tasks)."""
    dims: tuple[int, ...] = (16, 32)
    """``--dim-range`` of gen_dlrm_data.py: one dim per pool table, drawn per seed."""
    tables_per_task: int = 40
    """Tables per training and test task (80 in the official default)."""
    ndevices: int = 8
    """Simulated devices (the official default)."""
    max_memory_gb: float = 0.25
    """Per-device memory cap (GB, fp16 sizes); scaled from the official 7 GB to the synthetic pool."""
    num_train_tasks: int = 4
    """Training tasks, drawn from the first half of the pool (gen_dlrm_data.py --transfer)."""
    num_test_tasks: int = 4
    """Test tasks per test set: ``seen`` (first-half tables, new combinations) and ``unseen`` (second half only)."""
    larger_tables: int = 80
    """Tables per task of the ``larger`` test set (a size the policy never trained on); 0 skips it."""
    num_larger_tasks: int = 2
    """Tasks of the ``larger`` test set."""
    larger_transfer_ratio: float = 0.5
    """Share of unseen (second-half) tables in the ``larger`` set's pool (--transfer-ratio)."""
    batch_size: int = 512
    """Samples per timed batch (features are extracted from the same batch, as officially)."""
    row_cap: int = 50_000
    """Rows allocated per table for timing (features and memory keep the true rows)."""
    total_steps: int = 4_800
    """Environment steps of RL training (one step = one table placed; official 100,000)."""
    rl_batch_size: int = 2
    """Unrolls per learner step (official --batch-size 8)."""
    unroll_length: int = 40
    """Steps per unroll (official 100)."""
    num_cost_updates: int = 20
    """Cost-model minibatch steps after each learner step (official 20)."""
    cost_batch_size: int = 512
    """Shards per cost-model minibatch (official RingBuffer batch 512)."""
    learning_rate: float = 0.001
    """Adam learning rate, decayed linearly to 0 over total_steps (official 0.001)."""
    entropy_cost: float = 0.001
    """Entropy regularisation weight (official 0.001)."""
    baseline_cost: float = 0.5
    """Value-loss weight (official 0.5)."""
    planning_tables: tuple[int, ...] = (100, 200, 400, 800)
    """Table counts at which planning time is measured (tables drawn from the pool with replacement)."""
    cache_dir: str | None = None
    """Folder of the measured-cost cache (JSON); unset: the run's work folder (a fresh cache per run)."""
