"""Sharding planners: planning time per method against the number of tables.

AutoShard claims to shard "hundreds of tables in seconds" and every sharding paper compares its
search time with the greedy heuristics and TorchRec's planner; these benchmarks time one planning
call of each baseline of :mod:`harness.sharding.baselines` and of TorchRec's
``EmbeddingShardingPlanner`` (meta-device tables, 4 simulated devices) on dlrm-like tables
(rows and pooling factors from :mod:`harness.sharding.generator`'s fitted distribution, the
DreamShard protocol's fp16 sizing), with a cap of 1.5x an even split so that every greedy fits.

Direction: asv counts every number as lower-is-better; these are ``time_*`` benchmarks (seconds).
"""

from __future__ import annotations

from harness.sharding.baselines import baseline_names, run_baseline
from harness.sharding.generator import FITTED, draw_table
from harness.sharding.plan import ShardingTask
from harness.sharding.tables import NUM_BINS, Table
from harness.sharding.torchrec_planner import torchrec_shard

from .common import SEED

DEVICES = 4
DIMS = (16, 32, 64, 128)


def dlrm_like_task(num_tables: int, devices: int = DEVICES) -> ShardingTask:
    """`num_tables` tables with the generator's rows and pooling factors, cap 1.5x an even split."""
    tables = []
    for t in range(num_tables):
        draw = draw_table(FITTED, SEED, t)
        tables.append(Table(raw_id=t, row=max(100, draw.rows), dim=DIMS[t % len(DIMS)],
                            pooling_factor=float(int(draw.pooling)), bins=(0.0,) * NUM_BINS))
    total = sum(t.size_gb(fp16=True) for t in tables)
    return ShardingTask(tuple(tables), devices, max_memory_gb=1.5 * total / devices, fp16=True)


class Baselines:
    """One planning call of a heuristic baseline (pure Python, official loop)."""

    params = (baseline_names(), [20, 80, 320, 856])
    param_names = ["method", "tables"]

    def setup(self, method: str, tables: int) -> None:
        """Build the task outside the timed region."""
        self.task = dlrm_like_task(tables)

    def time_plan(self, method: str, tables: int) -> None:
        """Plan the task (quirk-compatible, as the official code)."""
        run_baseline(self.task, method, seed=SEED)


class TorchRecPlanner:
    """One ``EmbeddingShardingPlanner.plan`` call (table-wise, fused kernel) on meta-device tables."""

    params = [20, 80, 320]
    param_names = ["tables"]
    timeout = 300

    def setup(self, tables: int) -> None:
        """Build the task outside the timed region; check the planner finds a plan at this size."""
        self.task = dlrm_like_task(tables)
        if torchrec_shard(self.task, batch_size=4096).plan is None:
            raise NotImplementedError(f"TorchRec's planner finds no plan for {tables} tables")  # asv: skipped

    def time_plan(self, tables: int) -> None:
        """Plan the task on 4 simulated GPUs (batch 4,096: at 65,536 the planner's per-shard input and
        output buffers alone exceed this cap)."""
        torchrec_shard(self.task, batch_size=4096)
