"""fbgemm's fused table-batched embedding (TBE) timed on CPU, one shard at a time.

The official benchmarks (``autoshard/bench.py``, ``dreamshard/multi_gpu_bench.py``,
``neuroshard/compute_bench.py``) build one ``SplitTableBatchedEmbeddingBagsCodegen`` per device
over the shard's tables (EXACT_SGD), feed the shard's indices concatenated with offsets rebased
(``get_data``: table k's offsets shifted by the indices of the tables before it, one leading 0),
warm up, time a number of iterations and reduce them with the protocol's statistic. Here the
kernel runs on the host (``EmbeddingLocation.HOST, ComputeDevice.CPU``, FP32 weights: FP16
training weights on CPU are not assumed) on one pinned thread; "devices" are timed one after the
other, as AutoShard's ``Env.step`` does on one GPU. Forward is timed alone and forward+backward
together; backward is their difference. Rows are capped at ``row_cap`` for timing (indices taken
modulo the cap) while memory and features keep the true rows (spec H1, "scaling for CPU").
Results are cached in memory and, given ``cache_path``, on disk (JSON, written atomically).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
import torch
from fbgemm_gpu.split_embedding_configs import EmbOptimType, SparseType
from fbgemm_gpu.split_table_batched_embeddings_ops_common import ComputeDevice, EmbeddingLocation
from fbgemm_gpu.split_table_batched_embeddings_ops_training import SplitTableBatchedEmbeddingBagsCodegen

from harness.atomic import write_json
from harness.sharding.cost import AllToAllModel, CostOracle, assemble, shard_key
from harness.sharding.plan import Plan, ShardingTask
from harness.sharding.protocols import ShardingProtocol
from harness.sharding.tables import Table


class TraceSource(Protocol):
    """Where a table's batch comes from: :class:`~harness.sharding.generator.SyntheticTables` or
    :class:`~harness.sharding.traces.TraceFile`."""

    @property
    def fingerprint(self) -> str: ...

    def batch(self, raw_id: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]: ...


def reduce_records(records: "list[float]", statistic: str) -> float:
    """AutoShard: mean of the sorted records without the 2 smallest and 2 largest; else the median."""
    if statistic == "trimmed_mean":
        ordered = sorted(records)
        return float(np.mean(ordered[2:-2])) if len(ordered) > 4 else float(np.mean(ordered))
    return float(np.median(records))


@contextlib.contextmanager
def pinned_single_thread() -> Iterator[None]:
    """One torch thread on one CPU (the first allowed) for the duration; both restored afterwards."""
    threads = torch.get_num_threads()
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    torch.set_num_threads(1)
    if affinity:
        os.sched_setaffinity(0, {min(affinity)})
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if affinity:
            os.sched_setaffinity(0, affinity)


def fused_inputs(batches: "list[tuple[torch.Tensor, torch.Tensor]]", row_caps: "list[int]") -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated indices (modulo each table's timing rows) and rebased offsets (official ``get_data``)."""
    indices = torch.cat([(i % cap).view(-1) for (i, _), cap in zip(batches, row_caps)]).long()
    shifts = np.concatenate([[0], np.cumsum([i.numel() for i, _ in batches])])[:-1]
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64)] + [o[1:].long() + int(s) for (_, o), s in zip(batches, shifts)])
    return indices, offsets


def time_fused_shard(rows: "list[int]", dims: "list[int]", indices: torch.Tensor, offsets: torch.Tensor,
                     batch_size: int, warmup: int, iters: int, seed: int = 0) -> tuple[list[float], list[float]]:
    """Forward and forward+backward wall times (ms) of one fused CPU TBE, after `warmup` iterations."""
    op = SplitTableBatchedEmbeddingBagsCodegen(
        [(r, d, EmbeddingLocation.HOST, ComputeDevice.CPU) for r, d in zip(rows, dims)],
        optimizer=EmbOptimType.EXACT_SGD, weights_precision=SparseType.FP32, learning_rate=0.01)
    grad = torch.randn(batch_size, sum(dims), generator=torch.Generator().manual_seed(seed))
    for _ in range(warmup):
        op(indices, offsets).backward(grad)
    forward, total = [], []
    for _ in range(iters):
        start = time.perf_counter()
        out = op(indices, offsets)
        forward.append((time.perf_counter() - start) * 1e3)
        del out
        start = time.perf_counter()
        op(indices, offsets).backward(grad)
        total.append((time.perf_counter() - start) * 1e3)
    return forward, total


class MeasuredTBEOracle(CostOracle):
    """Per-device phases from fused CPU TBE timings (cached) and, optionally, the all-to-all model.

    ``comm=None`` gives compute only (AutoShard's cost). Cache keys: the trace fingerprint, the
    protocol's statistic and iteration counts, the timing batch, the row cap and the sorted
    ``(raw_id, dim, row)`` of the shard.
    """

    name = "measured_tbe"

    def __init__(self, traces: TraceSource, protocol: ShardingProtocol, batch_size: int = 4096,
                 row_cap: int = 200_000, comm: AllToAllModel | None = AllToAllModel(),
                 cache_path: "str | os.PathLike[str] | None" = None, pin: bool = True, use_cache: bool = True) -> None:
        self.traces = traces
        self.protocol = protocol
        self.batch_size = batch_size
        self.row_cap = row_cap
        self.comm = comm
        self.pin = pin
        self.use_cache = use_cache
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.cache: dict[str, list[float]] = {}
        if self.cache_path is not None and self.cache_path.is_file():
            self.cache = json.loads(self.cache_path.read_text(encoding="utf-8"))
        self.hits = 0
        self.misses = 0

    def _key(self, tables: "list[Table]") -> str:
        p = self.protocol
        return json.dumps([self.traces.fingerprint, p.statistic, p.warmup_iters, p.timed_iters,
                           self.batch_size, self.row_cap, shard_key(tables)])

    def shard_phases(self, tables: "list[Table]") -> tuple[float, float]:
        """Forward and backward compute (ms) of one fused shard; zero for an empty shard."""
        if not tables:
            return 0.0, 0.0
        key = self._key(tables)
        if self.use_cache and key in self.cache:
            self.hits += 1
            fwd, bwd = self.cache[key]
            return fwd, bwd
        self.misses += 1
        ordered = sorted(tables, key=lambda t: (t.raw_id, t.dim, t.row))
        batches = [self.traces.batch(t.raw_id, self.batch_size) for t in ordered]
        caps = [min(t.row, self.row_cap) for t in ordered]
        indices, offsets = fused_inputs(batches, caps)
        with pinned_single_thread() if self.pin else contextlib.nullcontext():
            forward, total = time_fused_shard(caps, [t.dim for t in ordered], indices, offsets, self.batch_size,
                                              self.protocol.warmup_iters, self.protocol.timed_iters)
        fwd = reduce_records(forward, self.protocol.statistic)
        bwd = max(0.0, reduce_records(total, self.protocol.statistic) - fwd)
        self.cache[key] = [fwd, bwd]
        return fwd, bwd

    def device_costs(self, task: ShardingTask, plan: Plan) -> np.ndarray:
        """Per device: the fused shard's measured forward and backward plus the modelled all-to-all."""
        phases = np.array([self.shard_phases(tables) for tables in plan.device_tables(task)])
        return assemble(phases[:, 0], phases[:, 1], self.comm, plan.device_dims(task), self.batch_size)

    def save(self) -> None:
        """Write the cache to ``cache_path`` atomically (no-op without a path)."""
        if self.cache_path is not None:
            write_json(self.cache_path, self.cache)

    @property
    def hit_rate(self) -> float:
        """Fraction of shard look-ups answered from the cache."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
