"""The three official repositories' protocol settings, each read at the commit named below.

daochenzha/autoshard @e861ecb, daochenzha/dreamshard @73128ed, daochenzha/neuroshard @ec7ca74.
A protocol decides how a table is sized (``table_size(..., fp16=...)``), whether the pooling
factor is int-truncated (``int(mean)`` in ``gen_dlrm_data.py``), the timing statistic of the
micro-benchmark and the default devices and memory cap of the evaluation scripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Statistic = Literal["trimmed_mean", "median"]


@dataclass(frozen=True)
class ShardingProtocol:
    """One repository's sizing, feature and timing conventions and its evaluation defaults."""

    name: str
    fp16_sizes: bool  # sizes in GB with 2 bytes per element (else 4)
    int_pooling_factor: bool  # pooling factor int-truncated (else float)
    statistic: Statistic  # how the timed iterations are reduced
    warmup_iters: int
    timed_iters: int
    ndevices: int
    max_memory_gb: float
    has_naive: bool  # the repository ships the ``naive`` (round-robin) sharder
    has_size_lookup: bool  # the repository ships ``size_lookup_greedy``


# autoshard/bench.py Env: warm-up 5, 10 timed, mean of the sorted records [2:-2]; eval.py
# --ndevices 8 --max-memory 7; sharders.py has random/dim/lookup/size greedy only.
AUTOSHARD = ShardingProtocol("autoshard", fp16_sizes=True, int_pooling_factor=True, statistic="trimmed_mean",
                             warmup_iters=5, timed_iters=10, ndevices=8, max_memory_gb=7.0,
                             has_naive=False, has_size_lookup=False)
# dreamshard/multi_gpu_bench.py Env: warm-up 5, 10 timed, per-phase median; eval.py
# --gpu-devices 0,1,2,3 --max-memory 5.
DREAMSHARD = ShardingProtocol("dreamshard", fp16_sizes=True, int_pooling_factor=True, statistic="median",
                              warmup_iters=5, timed_iters=10, ndevices=4, max_memory_gb=5.0,
                              has_naive=True, has_size_lookup=True)
# neuroshard/compute_bench.py ComputeBench: warm-up 5, 10 timed, median (its plan evaluator,
# evaluator.py InternalEvaluator, uses 10 warm-up and 100 timed iterations: pass a protocol with
# those counts to score plans that way); eval.py --max_mem 4, --gpu_devices 0,1,2,3; FP32 sizes
# (table_size's default fp16=False).
NEUROSHARD = ShardingProtocol("neuroshard", fp16_sizes=False, int_pooling_factor=False, statistic="median",
                              warmup_iters=5, timed_iters=10, ndevices=4, max_memory_gb=4.0,
                              has_naive=False, has_size_lookup=True)

PROTOCOLS: dict[str, ShardingProtocol] = {p.name: p for p in (AUTOSHARD, DREAMSHARD, NEUROSHARD)}


def get_protocol(name: str) -> ShardingProtocol:
    """The protocol called `name` (``autoshard``, ``dreamshard`` or ``neuroshard``)."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown sharding protocol {name!r}; choose one of {sorted(PROTOCOLS)}") from None
