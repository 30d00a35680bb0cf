"""The DreamShard reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Setting:
    """One evaluation setting, DLRM-``tables`` (``devices``): ``tasks`` tasks drawn from the unseen-table pool."""

    name: str = "test"
    """Suffix of the setting's metrics (``cost_ms_<name>``)."""
    tables: int = 20
    """Tables per task (DLRM-T)."""
    devices: int = 4
    """Simulated devices."""
    tasks: int = 20
    """Test tasks of this setting."""


@dataclass(frozen=True)
class Params:
    """DreamShard against the greedy baselines and TorchRec's planner (Zha et al. 2022), spec section 3.

    The synthetic dlrm-like pool (harness.sharding.generator) is split 50/50 into training and test
    tables (official ``tools/gen_tasks.py``); DreamShard trains on DLRM-``train_tables``
    (``devices``) tasks of the training pool and is evaluated on every setting's tasks of the test
    pool, without fine-tuning. Pool, tasks and dims are the same on every seed; a seed changes
    DreamShard's initialisation and sampling and the random baseline.
    """

    pool_tables: int = 200
    """Synthetic tables in the pool (856 in the dlrm_datasets trace)."""
    pool_seed: int = 0
    """Seed of the synthetic pool."""
    feature_batch: int = 65_536
    """Samples of the batch the table features are extracted from (the trace's batch)."""
    dim: int = 16
    """Every table's dimension (official ``--dim 16``)."""
    task_seed: int = 0
    """Seed of the task draws (official ``gen_tasks.py --seed``)."""
    train_tables: int = 20
    """Tables per training task."""
    train_tasks: int = 20
    """Training tasks."""
    devices: int = 4
    """Devices of the training tasks."""
    max_memory_gb: float = 5.0
    """Memory cap per device in GB, fp16 sizes (official ``--max-memory 5``)."""
    settings: tuple[Setting, ...] = (Setting(),)
    """Evaluation settings; the first is the paper's main test (same T and devices as training)."""
    oracle: Literal["measured_tbe", "surrogate"] = "measured_tbe"
    """Cost oracle of training and evaluation: fused TBE timed on CPU, or the deterministic surrogate (tests)."""
    timing_batch: int = 2048
    """Batch the fused TBE is timed on."""
    row_cap: int = 200_000
    """Rows allocated per table for timing (features and memory keep the true rows)."""
    cache: bool = True
    """Keep measured shard costs in ``$REPRO_CACHE_DIR/sharding`` across runs."""
    num_iterations: int = 10
    """Algorithm 1's outer iterations (official ``--num-iterations``)."""
    bench_steps: int = 10
    """Plans measured per iteration (official ``--bench-steps``)."""
    bench_training_steps: int = 300
    """Cost-network updates per iteration (official ``--bench-training-steps``)."""
    batch_size: int = 64
    """Cost-network batch (official ``--batch-size``)."""
    rl_num_batches: int = 10
    """REINFORCE updates per iteration (official ``--rl-num-batches``)."""
    rl_batch_size: int = 10
    """Episodes per REINFORCE update (official ``--rl-batch-size``)."""
    entropy_weight: float = 0.001
    """Entropy bonus weight (official ``--entropy-weight``)."""
    lr: float = 5e-4
    """Adam learning rate, decayed linearly to 0 over the iterations."""
    baselines: tuple[str, ...] = ("random", "naive", "dim_greedy", "size_greedy", "lookup_greedy", "size_lookup_greedy")
    """Heuristic baselines (official ``sharders.py``); the strongest per setting is the "best greedy"."""
    torchrec_batch_size: int = 65_536
    """Batch TorchRec's planner plans for (the trace's batch)."""
