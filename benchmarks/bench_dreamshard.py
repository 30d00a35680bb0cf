"""DreamShard's planning time against the number of tables (arXiv 2210.02023, inference).

Once trained, DreamShard places a task by one greedy episode of its estimated MDP: the 21 table
features, the cost network's single-table costs to order the tables, then one policy forward pass
per table over the devices (``papers/dreamshard/dreamshard.py``, ``dreamshard_shard``). Its time
does not depend on the trained weights, so the network here is freshly initialised (seeded). Tasks
are the dlrm-like tasks of ``bench_sharding`` (the generator's rows and pooling factors, 4 devices,
a cap of 1.5x an even split), so the numbers line up with the baselines and TorchRec's planner there.

Direction: asv counts every number as lower-is-better; these are ``time_*`` benchmarks (seconds).
"""

from __future__ import annotations

import torch

from papers.dreamshard.dreamshard import DreamShardNet, dreamshard_shard

from .bench_sharding import dlrm_like_task
from .common import SEED


class DreamShardPlanning:
    """One greedy DreamShard episode (features, table order, a policy step per table) on 4 devices."""

    params = [20, 80, 320, 856]
    param_names = ["tables"]

    def setup(self, tables: int) -> None:
        """Build the task and a seeded network outside the timed region."""
        self.task = dlrm_like_task(tables)
        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            self.net = DreamShardNet()

    def time_plan(self, tables: int) -> None:
        """Place every table of the task."""
        dreamshard_shard(self.net, self.task)
