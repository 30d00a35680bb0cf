"""AutoShard's inference: planning time against the number of tables.

The paper says AutoShard shards "hundreds of tables in seconds" (abstract). One plan is the sort
by the cost model's single-table predictions and one policy step per table (LSTM, cost head on every
device's current shard), :func:`papers.autoshard.autoshard.rl_shard`. The planning time does not
depend on the weights, so an untrained network on 8 devices is timed; the tables are
:mod:`benchmarks.bench_sharding`'s dlrm-like ones. Compare with ``TorchRecPlanner`` there.

Direction: asv counts every number as lower-is-better; these are ``time_*`` benchmarks (seconds).
"""

from __future__ import annotations

import torch

from papers.autoshard.features import FeatureScaler
from papers.autoshard.autoshard import AutoShardNet, rl_shard

from .bench_sharding import dlrm_like_task
from .common import SEED

DEVICES = 8


class AutoShardPlanning:
    """One ``rl_shard`` call (greedy policy, no timing oracle) on `tables` dlrm-like tables."""

    params = [100, 200, 400, 800]
    param_names = ["tables"]
    timeout = 300

    def setup(self, tables: int) -> None:
        """Build the task, the feature scaler and the network outside the timed region."""
        torch.manual_seed(SEED)
        self.task = dlrm_like_task(tables, devices=DEVICES)
        self.scaler = FeatureScaler.fit([self.task])
        self.net = AutoShardNet(DEVICES).eval()

    def time_plan(self, tables: int) -> None:
        """Plan the task with the policy's argmax actions."""
        rl_shard(self.net, self.scaler, self.task)
