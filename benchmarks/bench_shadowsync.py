"""ShadowSync benchmarks: a training step of virtual workers per synchronisation schedule, and the scaling sweep.

``VirtualSchedules`` times one pass of 2 virtual workers over 8 random CTR batches of the cluster
tests' tiny DLRM under synchronous SGD, foreground model averaging every 2 steps and the emulated
shadow thread (gap 2): the cost of the synchronisation bookkeeping on top of the workers' steps.
``ScalingSweep`` times the simulated scaling curve of the paper (1-20 trainers, three schedules,
200 iterations each), the simulator work of one seed of ``repro run shadowsync``.

Direction: asv counts every number as lower-is-better; these are seconds.
"""

from __future__ import annotations

import torch

from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.sim.scaling import DECLARED_FIT, all_reduce_service, sweep_workers
from harness.sim.service import declared
from harness.train.synthetic import random_ctr_batches
from papers.shadowsync.shadow import parse_method, train_virtual

ROWS = [1000, 500, 2000, 300]
STEP = declared(0.02, "benchmark fixture, not a measurement")
MODEL_BYTES = 1_200_000


class VirtualSchedules:
    """One pass of 2 virtual workers under each schedule."""

    params = ["sync", "fg_ma", "shadow_ma"]
    param_names = ["method"]
    unit = "seconds"

    def setup(self, method: str) -> None:
        """The batches and the model, outside the timing."""
        torch.set_num_threads(1)
        self.batches = random_ctr_batches(8, 256, 4, ROWS, seed=3)
        self.method = parse_method(method, 2, 2, 0.1)

    def time_one_pass(self, method: str) -> None:
        """8 global batches of 256 rows, 2 workers."""
        torch.manual_seed(0)
        model = DLRM.from_tables([4, 32, 8], [32, 1], make_tables([f"f{i}" for i in range(len(ROWS))], ROWS, 8))
        train_virtual(model, self.batches, self.method, workers=2, lr=0.05, max_steps=0)


class ScalingSweep:
    """The simulated scaling curves of one seed."""

    unit = "seconds"

    def time_three_schedules(self) -> None:
        """Shadow, foreground every 10 and all-reduce over 1-20 trainers."""
        for mode in ("shadow", "every_k", "allreduce"):
            sweep_workers((1, 2, 4, 8, 12, 16, 20), STEP, lambda n: all_reduce_service(DECLARED_FIT, n, MODEL_BYTES),
                          mode, batch_size=128, iterations=200, every=10, jitter=True, seed=0)
