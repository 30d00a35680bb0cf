"""The three repositories' task generators, with their random streams.

Each function calls numpy's legacy generator in the official order, so that with the same seed
and the same pool it draws the same table ids as the official script (``np.random.seed(seed)``
there, a ``RandomState(seed)`` here; tested against fixtures produced by the official code).

* AutoShard ``gen_dlrm_data.py``: one dim per pool table from ``--dim-range 16,32``; tasks of
  ``T in [80, 81)`` tables drawn *without* replacement from all tables; ``--transfer``: train tasks
  from the first half of the ids, test tasks mix a ``transfer_ratio`` of second-half tables.
* DreamShard ``tools/gen_tasks.py``: the pool shuffled and split 50/50 into train and test pools
  (unseen tables at test); ``T in [80, 81)`` (README: ``--T 50``) without replacement; dim fixed.
* NeuroShard ``tools/gen_tasks.py``: ``T in [10, 60)``, ids drawn *with* replacement, dims from
  ``{128, 64, 32, 16, 8, 4}``, the whole task redrawn until its fp32 size is at most ``max_mem``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.sharding.plan import ShardingTask
from harness.sharding.protocols import ShardingProtocol
from harness.sharding.tables import Table, table_size_gb


@dataclass(frozen=True)
class TaskSpec:
    """One official task line: pool table ids and, for NeuroShard, a dim per entry."""

    table_ids: tuple[int, ...]
    dims: tuple[int, ...] | None = None


@dataclass(frozen=True)
class TaskSet:
    """Train and test task specs of one protocol, and the per-pool-table dims when drawn once."""

    train: tuple[TaskSpec, ...]
    test: tuple[TaskSpec, ...]
    pool_dims: tuple[int, ...] | None = None


def _ids(values: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def autoshard_tasks(num_pool_tables: int, seed: int = 0, dim_range: tuple[int, ...] = (16, 32),
                    t_range: tuple[int, int] = (80, 81), num_train: int = 1, num_test: int = 1,
                    transfer: bool = False, transfer_ratio: float = 1.0) -> TaskSet:
    """AutoShard's ``gen_dlrm_data.py`` draws: pool dims, then train and test tasks (no replacement)."""
    rng = np.random.RandomState(seed)
    n = num_pool_tables
    pool_dims = _ids(rng.choice(list(dim_range), n))
    train = []
    for _ in range(num_train):
        size = rng.randint(t_range[0], t_range[1])
        pool = list(range(n // 2)) if transfer else list(range(n))
        train.append(TaskSpec(_ids(rng.choice(pool, size=size, replace=False))))
    test = []
    for _ in range(num_test):
        size = rng.randint(t_range[0], t_range[1])
        if transfer:
            seen = list(range(int(n // 2 * (1.0 - transfer_ratio))))
            unseen = list(range(n // 2, n // 2 + int((n - n // 2) * transfer_ratio)))
            pool = seen + unseen
        else:
            pool = list(range(n))
        test.append(TaskSpec(_ids(rng.choice(pool, size=size, replace=False))))
    return TaskSet(tuple(train), tuple(test), pool_dims)


def dreamshard_tasks(num_pool_tables: int, seed: int = 0, t_range: tuple[int, int] = (80, 81),
                     num_train: int = 50, num_test: int = 50) -> TaskSet:
    """DreamShard's ``tools/gen_tasks.py``: shuffled pool split in halves, tasks without replacement."""
    rng = np.random.RandomState(seed)
    pool = list(range(num_pool_tables))
    rng.shuffle(pool)
    train_pool, test_pool = pool[:len(pool) // 2], pool[len(pool) // 2:]

    def draw(pool_ids: list[int], count: int) -> tuple[TaskSpec, ...]:
        specs = []
        for _ in range(count):
            size = rng.randint(t_range[0], t_range[1])
            specs.append(TaskSpec(_ids(rng.choice(pool_ids, size=size, replace=False))))
        return tuple(specs)

    train = draw(train_pool, num_train)
    return TaskSet(train, draw(test_pool, num_test))


def neuroshard_dims(max_dim: int = 128) -> list[int]:
    """``{max_dim, max_dim/2, ...}`` while divisible by 4 (official ``gen_tasks.py``)."""
    dims, cur = [], max_dim
    while cur % 4 == 0:
        dims.append(cur)
        cur //= 2
    return dims


def neuroshard_tasks(pool_rows: "list[int]", seed: int = 0, num_tasks: int = 100,
                     t_range: tuple[int, int] = (10, 60), max_mem_gb: float = 15.0,
                     max_dim: int = 128) -> TaskSet:
    """NeuroShard's ``tools/gen_tasks.py``: ids with replacement, random dims, fp32 size <= max_mem.

    All tasks go to ``test`` (the official script writes one ``data.txt``).
    """
    rng = np.random.RandomState(seed)
    dims = neuroshard_dims(max_dim)
    tasks = []
    for _ in range(num_tasks):
        size = rng.randint(t_range[0], t_range[1])
        while True:
            ids = rng.randint(len(pool_rows), size=size)
            task_dims = rng.choice(dims, size=size)
            total = sum(table_size_gb(pool_rows[i], task_dims[k], fp16=False) for k, i in enumerate(ids))
            if total <= max_mem_gb:
                break
        tasks.append(TaskSpec(_ids(ids), _ids(task_dims)))
    return TaskSet((), tuple(tasks))


def build_task(spec: TaskSpec, pool: "list[Table]", protocol: ShardingProtocol,
               ndevices: int | None = None, max_memory_gb: float | None = None,
               pool_dims: "tuple[int, ...] | None" = None) -> ShardingTask:
    """The task of `spec` over `pool`: dims from the spec (NeuroShard), else from `pool_dims`
    (AutoShard), else the pool tables' own; devices and cap default to the protocol's."""
    tables = []
    for k, raw in enumerate(spec.table_ids):
        table = pool[raw]
        if spec.dims is not None:
            table = table.with_dim(spec.dims[k])
        elif pool_dims is not None:
            table = table.with_dim(pool_dims[raw])
        tables.append(table)
    return ShardingTask(tables=tuple(tables), ndevices=ndevices or protocol.ndevices,
                        max_memory_gb=protocol.max_memory_gb if max_memory_gb is None else max_memory_gb,
                        fp16=protocol.fp16_sizes)
