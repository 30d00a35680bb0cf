"""TorchRec's analytic cost: the planner's shard estimator (``EmbeddingPerfEstimator``).

For every piece of a plan, TorchRec's enumerator proposes the table-wise, fused-kernel sharding
option and its estimator fills the shard's ``Perf`` (forward/backward compute and comms, input
distribution) from the table's size, pooling factor, batch and the topology's bandwidth constants.
A device's phases are the sums over its pieces: forward = fwd_compute, forward comm = fwd_comms +
input_dist_comms, backward comm = bwd_comms, backward = bwd_compute. The estimate is additive per
table by construction, so it cannot show fusion effects: a sanity baseline and TorchRec's own view.
A column piece is estimated as a whole table of the piece's width (TorchRec's column-wise shards
of one table are costed the same way, shard by shard).
"""

from __future__ import annotations

import warnings

import numpy as np
from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
from torchrec.distributed.planner.enumerators import EmbeddingEnumerator

from harness.sharding.cost import CostOracle
from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.tables import Table
from harness.sharding.torchrec_planner import meta_collection, simulated_topology, table_constraints, table_name

PieceKey = tuple[int, int, int, float, int]


class TorchRecEstimatorOracle(CostOracle):
    """Per-device sums of TorchRec's per-shard ``Perf`` estimates (ms), cached per piece."""

    name = "torchrec_estimator"

    def __init__(self, batch_size: int = 65_536, compute_device: str = "cuda") -> None:
        self.batch_size = batch_size
        self.compute_device = compute_device
        self.cache: dict[PieceKey, np.ndarray] = {}

    def piece_phases(self, tables: "list[Table]", ndevices: int, fp16: bool) -> list[np.ndarray]:
        """``[fwd, fwd comm, bwd comm, bwd]`` of each table placed whole on one of `ndevices`."""
        keys: list[PieceKey] = [(t.raw_id, t.dim, t.row, float(t.pooling_factor), ndevices) for t in tables]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if missing:
            todo = [tables[i] for i in missing]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                enumerator = EmbeddingEnumerator(topology=simulated_topology(ndevices, 1e6, self.compute_device),
                                                 batch_size=self.batch_size, constraints=table_constraints(todo))
                options = enumerator.enumerate(meta_collection(todo, fp16), [EmbeddingBagCollectionSharder()])
            by_name = {o.name: o for o in options}
            for j, i in enumerate(missing):
                perf = by_name[table_name(j)].shards[0].perf
                assert perf is not None
                self.cache[keys[i]] = np.array([perf.fwd_compute, perf.fwd_comms + perf.input_dist_comms,
                                                perf.bwd_comms, perf.bwd_compute])
        return [self.cache[k] for k in keys]

    def device_costs(self, task: ShardingTask, plan: Plan) -> np.ndarray:
        """Per device, the summed phases of its pieces."""
        out = np.zeros((task.ndevices, 4))
        for d, tables in enumerate(plan.device_tables(task)):
            if tables:
                out[d] = np.sum(self.piece_phases(tables, task.ndevices, task.fp16), axis=0)
        return out
