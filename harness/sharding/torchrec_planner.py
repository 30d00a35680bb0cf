"""TorchRec's ``EmbeddingShardingPlanner`` as a sharding baseline (planning only, no training).

The task's tables (or column pieces) become ``EmbeddingBagConfig``s of an
``EmbeddingBagCollection`` on the meta device; ``ParameterConstraints`` carry each table's
pooling factor and the allowed sharding types (table-wise, optionally column-wise with a
``min_partition``: TorchRec's MIN_CW_DIM is 128, so tables of width <= 128 are never split unless
it is lowered); the topology is N simulated devices (``cuda`` HBM or ``cpu`` DDR) whose capacity
is the task's memory cap. The resulting plan is converted into :class:`~harness.sharding.plan.Plan`
and scored by the same oracle as every other method.
"""

from __future__ import annotations

import logging
import time
import warnings

import torch
from torchrec.distributed.embedding_types import EmbeddingComputeKernel
from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
from torchrec.distributed.planner import EmbeddingShardingPlanner, ParameterConstraints
from torchrec.distributed.planner.storage_reservations import FixedPercentageStorageReservation
from torchrec.distributed.planner.types import KernelConfig, PlannerError, Topology, TopologyFactory, TrainerConfig
from torchrec.distributed.types import ShardingType
from torchrec.modules.embedding_configs import DataType, EmbeddingBagConfig
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from harness.sharding.baselines import ShardingResult
from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.tables import Table

GIB = 2**30


def table_name(index: int) -> str:
    """The EmbeddingBagConfig name of the task's table `index`."""
    return f"t{index}"


def meta_collection(tables: "list[Table]", fp16: bool) -> EmbeddingBagCollection:
    """The tables as an EmbeddingBagCollection on the meta device (no memory allocated)."""
    dtype = DataType.FP16 if fp16 else DataType.FP32
    configs = [EmbeddingBagConfig(name=table_name(i), embedding_dim=t.dim, num_embeddings=t.row,
                                  feature_names=[f"f{i}"], data_type=dtype) for i, t in enumerate(tables)]
    return EmbeddingBagCollection(tables=configs, device=torch.device("meta"))


def simulated_topology(ndevices: int, memory_gb: float, compute_device: str = "cuda") -> Topology:
    """N devices of `memory_gb` each (HBM for ``cuda``, DDR for ``cpu``), TorchRec's default bandwidths."""
    cap = int(memory_gb * GIB)
    trainer = (TrainerConfig(world_size=ndevices, local_world_size=ndevices, hbm_cap_bytes=cap)
               if compute_device == "cuda" else
               TrainerConfig(world_size=ndevices, local_world_size=ndevices, ddr_cap_bytes=cap))
    return TopologyFactory.create_topology(trainer_config=trainer, kernel_config=KernelConfig(compute_device=compute_device))


def table_constraints(tables: "list[Table]", column_wise: bool = False,
                      min_partition: int | None = None) -> dict[str, ParameterConstraints]:
    """Per table: its pooling factor, the fused kernel, table-wise (and column-wise if asked)."""
    types = [ShardingType.TABLE_WISE.value] + ([ShardingType.COLUMN_WISE.value] if column_wise else [])
    return {table_name(i): ParameterConstraints(sharding_types=types, compute_kernels=[EmbeddingComputeKernel.FUSED.value],
                                                pooling_factors=[max(float(t.pooling_factor), 1e-6)],
                                                min_partition=min_partition)
            for i, t in enumerate(tables)}


def _quiet_planner_logs() -> None:
    for name in ("torchrec.distributed.planner", "torchrec.distributed.planner.storage_reservations"):
        logging.getLogger(name).setLevel(logging.ERROR)


def torchrec_shard(task: ShardingTask, batch_size: int = 65_536, compute_device: str = "cuda",
                   column_wise: bool = False, min_partition: int | None = None,
                   reservation: float = 0.0) -> ShardingResult:
    """TorchRec's planner on `task`; its plan as pieces per device (None if the planner fails).

    `reservation` is a fixed fraction of each device kept free (``FixedPercentageStorageReservation``;
    0 here so that the planner sees the same cap as the official sharders). TorchRec's default
    ``HeuristicalStorageReservation`` also reserves 20 copies of the input KJT on every device
    (about 9.5 GB per device for 80 dlrm-like tables at batch 65,536), which makes the papers'
    5-7 GB caps infeasible; the planner still counts each shard's own input/output buffers.
    """
    _quiet_planner_logs()
    start = time.perf_counter()
    tables = list(task.tables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        planner = EmbeddingShardingPlanner(
            topology=simulated_topology(task.ndevices, task.max_memory_gb, compute_device),
            batch_size=batch_size, constraints=table_constraints(tables, column_wise, min_partition),
            storage_reservation=FixedPercentageStorageReservation(percentage=reservation), debug=False)
        try:
            sharding = planner.plan(meta_collection(tables, task.fp16), [EmbeddingBagCollectionSharder()])
        except PlannerError as exc:
            return ShardingResult("torchrec", None, planning_seconds=time.perf_counter() - start,
                                  notes={"reason": str(exc).splitlines()[0]})
    pieces: list[tuple[int, int]] = []
    shards: list[list[int]] = [[] for _ in range(task.ndevices)]
    module_plan = next(iter(sharding.plan.values()))
    for i in range(task.num_tables):
        param = module_plan[table_name(i)]
        for shard in param.sharding_spec.shards:
            rank = shard.placement.rank()
            shards[rank].append(len(pieces))
            pieces.append((i, int(shard.shard_sizes[1])))
    plan = Plan(tuple(pieces), tuple(tuple(s) for s in shards)).checked(task)
    kinds = sorted({module_plan[table_name(i)].sharding_type for i in range(task.num_tables)})
    return ShardingResult("torchrec", plan, planning_seconds=time.perf_counter() - start,
                          notes={"sharding_types": kinds})
