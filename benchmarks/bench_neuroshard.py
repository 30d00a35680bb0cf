"""NeuroShard's search: planning time against the number of tables.

The paper's search runs on its pre-trained cost models only (no hardware in the loop); its time
grows with the tables of the task (each of up to ``max_length`` beam rounds re-runs the greedy grid
search for ``k`` sequences times up to ``2n`` candidate splits). One call of
:func:`papers.neuroshard.search.neuroshard` (the official settings k=3, n=10, max_length=10, 11
scales) on a task of the official NeuroShard stream's kind (dims 4..128, 4 devices of 4 GB) over
synthetic dlrm-like tables; the networks are freshly initialised (a fixed torch seed), which
changes the plans but not the amount of search. ``time_plan_table_wise`` is the same without
column splits (max_length=0).

Direction: asv counts every number as lower-is-better; these are ``time_*`` benchmarks (seconds).
"""

from __future__ import annotations

import numpy as np
import torch

from harness.sharding.generator import SyntheticTables
from harness.sharding.plan import ShardingTask
from harness.sharding.protocols import NEUROSHARD
from harness.sharding.tasks import build_task, neuroshard_dims, TaskSpec
from papers.neuroshard.cost_models import CommCostNet, ComputeCostNet, Standardize, table_features
from papers.neuroshard.search import CostModels, neuroshard

from .common import SEED

DEVICES = 4


def untrained_models(task: ShardingTask) -> CostModels:
    """The three networks at a fixed initialisation, normalised on the task's own tables."""
    torch.manual_seed(SEED)
    compute = ComputeCostNet(Standardize(table_features(list(task.tables))))
    dims = torch.rand(64, DEVICES) * 256
    sleeps = torch.rand(64, DEVICES) * 10
    forward = CommCostNet(Standardize(torch.cat([dims, sleeps], dim=1)), 2 * DEVICES, DEVICES)
    backward = CommCostNet(Standardize(dims), DEVICES, DEVICES)
    return CostModels(compute, forward, backward)


def neuroshard_task(num_tables: int) -> ShardingTask:
    """`num_tables` pool tables (with replacement) at dims drawn from 128..4, 4 devices of 4 GB."""
    pool = SyntheticTables(100, seed=SEED, feature_batch=512).tables(128, truncate_pooling=False)
    rng = np.random.RandomState(SEED)
    ids = tuple(int(i) for i in rng.randint(len(pool), size=num_tables))
    dims = tuple(int(d) for d in rng.choice(neuroshard_dims(128), size=num_tables))
    return build_task(TaskSpec(ids, dims), pool, NEUROSHARD, ndevices=DEVICES)


class NeuroShardSearch:
    """One NeuroShard planning call (cost-model inference included)."""

    params = [10, 20, 40, 60]
    param_names = ["tables"]
    timeout = 300

    def setup(self, tables: int) -> None:
        """Build the task and the networks outside the timed region."""
        self.task = neuroshard_task(tables)
        self.models = untrained_models(self.task)

    def time_plan(self, tables: int) -> None:
        """Beam search over column splits with the greedy grid search (official settings)."""
        neuroshard(self.task, self.models)

    def time_plan_table_wise(self, tables: int) -> None:
        """The greedy grid search alone (max_length=0)."""
        neuroshard(self.task, self.models, max_length=0)
