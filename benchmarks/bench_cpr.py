"""CPR (partial recovery) benchmarks: a partial checkpoint's save and one shard's restore, MFU's
per-batch tracking, and the job-under-failures simulator.

``PartialCheckpoint`` holds 26 tables of 20,000 rows x 16 (fp32, with row-wise Adagrad state: 35 MB)
on 8 row shards, fused into FBGEMM's kernel as in the reproduction: a full save, a budgeted save of
the 12.5% most-used rows of every table, and the restore of one shard (what a failure costs the
emulation). ``RecoverySimulation`` plays a 500-failure job under full and partial recovery
(fixed, declared durations: only the engine's speed is measured). Everything is seconds, lower is better.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.cluster.failures import PartialCheckpointStore, failure_times
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.sim.recovery import RecoveryPolicy, simulate_job, young_interval
from harness.train.optim import SparseSpec, build_optimizers
from harness.train.synthetic import random_ctr_batches

from .common import SEED

TABLES, ROWS, DIM, SHARDS, BUDGET = 26, 20_000, 16, 8, 0.125


def _store() -> tuple[PartialCheckpointStore, list]:  # type: ignore[type-arg]
    torch.manual_seed(SEED)
    model = DLRM.from_tables([13, 32, DIM], [32, 1], make_tables([f"f{i}" for i in range(TABLES)], [ROWS] * TABLES, DIM))
    model, optimizers = build_optimizers(model, "adam", 1e-3, 0.0, SparseSpec("rowwise_adagrad", 0.05),
                                         torch.device("cpu"))
    store = PartialCheckpointStore.from_model(model, optimizers.sparse, SHARDS)
    store.save(0)
    batches = random_ctr_batches(4, 512, 13, [ROWS] * TABLES, seed=SEED)
    for batch in batches:
        for key in batch.sparse_features.keys():
            store.record_access(f"t_{key}", batch.sparse_features[key].values())
    return store, batches


class PartialCheckpoint:
    """Save and restore of the emulation's checkpoint store (26 x 20,000 x 16 tables, 8 row shards)."""

    unit = "seconds"
    timeout = 300

    def setup(self) -> None:
        """A fused model with counted lookups and a first checkpoint."""
        self.store, self.batches = _store()

    def time_save_full(self) -> None:
        """A checkpoint of every table (weights and row-wise Adagrad state)."""
        self.store.save(1)

    def time_save_most_used(self) -> None:
        """CPR-MFU's budgeted save: the 12.5% most-used rows of every table."""
        for name in self.store.tables:
            self.store.save_rows(name, self.store.most_used(name, int(BUDGET * ROWS)))

    def time_restore_one_shard(self) -> None:
        """Partial recovery: one of 8 row shards back to the checkpoint."""
        self.store.restore_shard(3)

    def time_track_batch(self) -> None:
        """MFU's exact counters: the lookups of one batch of 512 rows over 26 tables."""
        batch = self.batches[0]
        for key in batch.sparse_features.keys():
            self.store.record_access(f"t_{key}", batch.sparse_features[key].values())


class RecoverySimulation:
    """The job-under-failures simulator: a 500-failure job (fixture durations, not measurements)."""

    unit = "seconds"

    def setup(self) -> None:
        """Failure times of a 500-MTBF job."""
        self.mtbf = 3600.0
        self.failures = failure_times(self.mtbf, 1500 * self.mtbf, np.random.default_rng(SEED))

    def time_full_recovery(self) -> None:
        """Young-interval full recovery (about 20,000 saves and 500 failures)."""
        simulate_job(RecoveryPolicy("full", young_interval(3.0, self.mtbf), 3.0, 5.0, rollback=True),
                     500 * self.mtbf, self.failures)

    def time_partial_recovery(self) -> None:
        """Partial recovery at CPR's PLS-0.1 interval with 8 shards."""
        simulate_job(RecoveryPolicy("partial", 1.6 * self.mtbf, 3.0, 2.0, rollback=False), 500 * self.mtbf,
                     self.failures)
