"""Sharding tasks and plans, in one format for every method and every cost oracle.

A task is the official "task": a list of tables (features and dimension), a number of devices and
a per-device memory cap (GB, sized in fp16 or fp32 by the protocol). A plan places *pieces* of
tables on devices. A table-wise plan has one piece per table (its full dimension). A column-wise
plan splits a table into pieces of smaller width. NeuroShard's ``sharding_steps`` (halve table k's
dim and append a copy, ``neuroshard/evaluator.py``) and TorchRec's column-wise shards both map
onto pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.sharding.tables import Table


@dataclass(frozen=True)
class ShardingTask:
    """Tables to place on `ndevices` devices of `max_memory_gb` each (sizes in fp16 if `fp16`)."""

    tables: tuple[Table, ...]
    ndevices: int
    max_memory_gb: float
    fp16: bool

    def __post_init__(self) -> None:
        if self.ndevices < 1:
            raise ValueError(f"a task needs at least one device, got ndevices={self.ndevices}")
        if not self.tables:
            raise ValueError("a task needs at least one table")

    @property
    def num_tables(self) -> int:
        """The number of tables."""
        return len(self.tables)

    def sizes_gb(self) -> list[float]:
        """Each table's size in GB (official ``table_size`` in the protocol's precision)."""
        return [t.size_gb(self.fp16) for t in self.tables]


@dataclass(frozen=True)
class Plan:
    """Pieces of tables ``(table index, width)`` and, per device, the pieces it holds (in order)."""

    pieces: tuple[tuple[int, int], ...]
    shards: tuple[tuple[int, ...], ...]

    @classmethod
    def table_wise(cls, task: ShardingTask, partitions: "list[list[int]]") -> "Plan":
        """Whole tables: `partitions[d]` lists the table indices on device d."""
        pieces = tuple((i, t.dim) for i, t in enumerate(task.tables))
        return cls(pieces, tuple(tuple(int(i) for i in p) for p in partitions)).checked(task)

    @classmethod
    def from_allocation(cls, task: ShardingTask, allocation: "list[int]") -> "Plan":
        """Whole tables from a device index per table (the official ``allocation2plan``; -1 = unplaced)."""
        partitions: list[list[int]] = [[] for _ in range(task.ndevices)]
        for i, d in enumerate(allocation):
            if d != -1:
                partitions[int(d)].append(i)
        return cls.table_wise(task, partitions)

    @classmethod
    def from_column_splits(cls, task: ShardingTask, steps: "list[int]", partitions: "list[list[int]]") -> "Plan":
        """NeuroShard's format: each step halves piece k's width and appends a copy as a new piece;
        `partitions` index the resulting pieces (``neuroshard/evaluator.py`` ``eval``)."""
        pieces = [(i, t.dim) for i, t in enumerate(task.tables)]
        for k in steps:
            table, width = pieces[k]
            pieces[k] = (table, width // 2)
            pieces.append((table, width // 2))
        return cls(tuple(pieces), tuple(tuple(int(i) for i in p) for p in partitions)).checked(task)

    def checked(self, task: ShardingTask) -> "Plan":
        """This plan, after checking it covers every column of every table exactly once."""
        if len(self.shards) != task.ndevices:
            raise ValueError(f"plan has {len(self.shards)} devices, the task {task.ndevices}")
        placed = sorted(i for shard in self.shards for i in shard)
        if placed != list(range(len(self.pieces))):
            raise ValueError(f"every piece must be placed exactly once; placed {placed} of {len(self.pieces)} pieces")
        width = [0] * task.num_tables
        for table, w in self.pieces:
            width[table] += w
        wrong = [i for i, t in enumerate(task.tables) if width[i] != t.dim]
        if wrong:
            raise ValueError(f"pieces of tables {wrong} do not add up to their dimensions")
        return self

    def device_tables(self, task: ShardingTask) -> list[list[Table]]:
        """Per device, its pieces as tables (a column piece keeps the rows and features, its own width)."""
        return [[task.tables[self.pieces[p][0]].with_dim(self.pieces[p][1]) for p in shard] for shard in self.shards]

    def device_sizes_gb(self, task: ShardingTask) -> list[float]:
        """Per device, the summed size of its pieces in the task's precision."""
        return [sum(t.size_gb(task.fp16) for t in tables) for tables in self.device_tables(task)]

    def device_dims(self, task: ShardingTask) -> list[int]:
        """Per device, the summed width of its pieces (what the all-to-all moves per sample)."""
        return [sum(w for _, w in (self.pieces[p] for p in shard)) for shard in self.shards]

    def allocation(self) -> list[int]:
        """The device of each piece (the official ``plan2allocation``)."""
        out = [-1] * len(self.pieces)
        for d, shard in enumerate(self.shards):
            for p in shard:
                out[p] = d
        return out

    def partitions(self) -> list[list[int]]:
        """Per device, its piece indices as lists (the official ``plan`` format)."""
        return [list(s) for s in self.shards]

    def is_table_wise(self) -> bool:
        """True when no table is split into columns."""
        return len(self.pieces) == len({t for t, _ in self.pieces})
