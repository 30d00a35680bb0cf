"""The cost-oracle interface shared by every sharding method, and the all-to-all model.

An oracle returns, for each device of a plan, four phases in milliseconds: forward compute,
forward communication, backward communication, backward compute (the columns of dreamshard's
``multi_gpu_bench.py`` latencies). The cost of a plan is the slowest device's sum,
``np.max(np.sum(latencies, axis=1))`` (``multi_gpu_bench_interface.evaluate``). A plan whose
device exceeds the memory cap (sized in the task's precision) is invalid and is not measured,
as every official evaluation script rejects it before timing.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
from torchrec.distributed.planner.constants import INTRA_NODE_BANDWIDTH

from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.tables import Table

PHASES = ("forward", "forward_comm", "backward_comm", "backward")


@dataclass(frozen=True)
class PlanCost:
    """Per-device phase costs ``[devices, 4]`` (ms) of a plan, or why the plan is invalid."""

    per_device: np.ndarray
    valid: bool
    reason: str = ""

    @property
    def cost(self) -> float:
        """The slowest device's summed phases; ``inf`` for an invalid plan."""
        return float(np.max(self.per_device.sum(axis=1))) if self.valid else float("inf")

    @property
    def balance(self) -> float:
        """min/max of the devices' summed phases (AutoShard's reward); 0 for an invalid plan."""
        if not self.valid:
            return 0.0
        totals = self.per_device.sum(axis=1)
        return float(totals.min() / totals.max()) if totals.max() > 0 else 1.0


def memory_violation(task: ShardingTask, plan: Plan) -> str:
    """Empty if every device fits the cap, else which device is over by how much."""
    sizes = plan.device_sizes_gb(task)
    over = [(d, s) for d, s in enumerate(sizes) if s > task.max_memory_gb]
    if not over:
        return ""
    d, s = max(over, key=lambda x: x[1])
    return f"out of memory: device {d} holds {s:.3f} GB > cap {task.max_memory_gb} GB"


class CostOracle(abc.ABC):
    """Scores plans: per-device (forward, forward comm, backward comm, backward) in ms."""

    name: str = "oracle"

    def evaluate(self, task: ShardingTask, plan: Plan) -> PlanCost:
        """The plan's per-device phases, or an invalid cost when a device is over the memory cap."""
        reason = memory_violation(task, plan)
        if reason:
            return PlanCost(np.zeros((task.ndevices, len(PHASES))), valid=False, reason=reason)
        return PlanCost(np.asarray(self.device_costs(task, plan), dtype=np.float64), valid=True)

    @abc.abstractmethod
    def device_costs(self, task: ShardingTask, plan: Plan) -> np.ndarray:
        """``[devices, 4]`` phase costs in ms of a plan that fits in memory."""


@dataclass(frozen=True)
class AllToAllModel:
    """Alpha-beta model of the pooled-embedding all-to-all (spec H2).

    Each device holds ``S_d`` output columns; the batch ``B`` is split evenly, fp32 values. Device d
    sends ``B*S_d*4*(D-1)/D`` bytes and receives ``(B/D)*(sum S - S_d)*4``; its forward time is
    ``alpha + max(send, recv)/beta + wait_d`` with ``wait_d = max_j fwd_j - fwd_d`` (the straggler
    wait NeuroShard models with its sleep times); backward is the same transfer without the wait.
    The default bandwidth is TorchRec's intra-node constant (bytes/ms, planner/constants.py).
    """

    alpha_ms: float = 0.01
    bytes_per_ms: float = INTRA_NODE_BANDWIDTH

    def transfer_ms(self, dims: "list[int]", batch_size: int) -> np.ndarray:
        """Per device, the transfer time of one all-to-all (no wait)."""
        dims_arr = np.asarray(dims, dtype=np.float64)
        devices = len(dims_arr)
        if devices == 1:
            return np.zeros(1)
        send = batch_size * dims_arr * 4 * (devices - 1) / devices
        recv = (batch_size / devices) * (dims_arr.sum() - dims_arr) * 4
        return self.alpha_ms + np.maximum(send, recv) / self.bytes_per_ms

    def phases(self, forward_ms: np.ndarray, dims: "list[int]", batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Forward comm (transfer + straggler wait) and backward comm per device."""
        transfer = self.transfer_ms(dims, batch_size)
        wait = forward_ms.max() - forward_ms
        return transfer + wait, transfer


def assemble(forward: np.ndarray, backward: np.ndarray, comm: "AllToAllModel | None",
             dims: "list[int]", batch_size: int) -> np.ndarray:
    """``[devices, 4]`` from compute phases and (optionally) the all-to-all model."""
    if comm is None:
        zeros = np.zeros_like(forward)
        return np.stack([forward, zeros, zeros, backward], axis=1)
    fwd_comm, bwd_comm = comm.phases(forward, dims, batch_size)
    return np.stack([forward, fwd_comm, bwd_comm, backward], axis=1)


def shard_key(tables: "list[Table]") -> tuple[tuple[int, int, int], ...]:
    """Order-free identity of a shard: sorted ``(raw_id, dim, row)`` of its pieces."""
    return tuple(sorted((t.raw_id, t.dim, t.row) for t in tables))
