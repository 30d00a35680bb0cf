"""Failures as a renewal process, and checkpoints of embedding shards with partial recovery (CPR).

CPR (Maeng et al., arXiv 2011.02999, MLSys 2021) keeps embedding tables on ``N_emb`` parameter-server
shards. On a failure, *full* recovery reloads every shard from the last checkpoint (and redoes
the lost work); *partial* recovery reloads only the failed shard, so the other shards keep their
updates and the failed one loses the updates since its last save. :class:`PartialCheckpointStore`
does that to live tensors of an in-process model: it snapshots the tables (and the per-row
optimiser state that belongs to them, e.g. Adagrad's accumulators: restoring weights without it
would underestimate the damage, spec Sec. 5 pitfalls), saves selected rows only (CPR's MFU: the
most-used rows; SSU: a sample of the used rows), and reverts one shard.

Shards: ``layout="row"`` puts row ``r`` of every table on shard ``r % shards`` (row-wise
partitioning across PS shards); ``layout="table"`` puts table ``t`` (in name order) on shard
``t % shards``. The store works on the harness trainer's tables as they are: FBGEMM's fused
tables (weights and optimiser state are live views of the kernel's buffers), the plain-PyTorch
backend with torch's sparse optimisers, or an unfused ``EmbeddingBagCollection``.

Failure times (:func:`failure_times`) are placed in any unit (seconds, or samples processed,
which keeps the accuracy emulation independent of the CPU's speed, spec Sec. 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from harness.errors import ConfigError

LAYOUTS = ("row", "table")


def failure_times(mean_between: float, horizon: float, rng: np.random.Generator, shape: float = 1.0) -> np.ndarray:
    """Failure times in ``[0, horizon)``: a renewal process with gamma gaps of mean `mean_between`.

    `shape` 1 gives exponential gaps, i.e. a Poisson process of rate ``1 / mean_between`` (MTBF =
    `mean_between`); other shapes give burstier (< 1) or more regular (> 1) failures at the same mean.
    """
    if mean_between <= 0 or horizon < 0 or shape <= 0:
        raise ConfigError(f"failure process needs mean_between > 0, horizon >= 0, shape > 0; got "
                          f"{mean_between}, {horizon}, {shape}")
    times: list[float] = []
    now = 0.0
    batch = max(16, int(2 * horizon / mean_between))
    while True:
        for gap in rng.gamma(shape, mean_between / shape, size=batch):
            now += float(gap)
            if now >= horizon:
                return np.asarray(times)
            times.append(now)


def _row_states(optimizers: list[Any], table: str, weight: nn.Parameter) -> Iterator[torch.Tensor]:
    """The state tensors `optimizers` keep for `table`'s weight (a torch or a TorchRec keyed optimiser)."""
    for opt in optimizers:
        named = getattr(opt, "params", None)
        if isinstance(named, dict):  # TorchRec KeyedOptimizer: parameters by name, e.g. "t_f0.weight"
            keys = [p for n, p in named.items() if n == f"{table}.weight" or n.endswith(f".{table}.weight")]
        else:
            keys = [p for group in opt.param_groups for p in group["params"] if p is weight]
        for key in keys:
            yield from (s for s in opt.state.get(key, {}).values() if isinstance(s, torch.Tensor))


@dataclass
class _Table:
    """One table's live tensors (weights, then per-row optimiser state) and their saved copies."""

    live: list[torch.Tensor]
    saved: list[torch.Tensor] = field(default_factory=list)
    access: torch.Tensor | None = None


class PartialCheckpointStore:
    """Snapshots of embedding tables (and their per-row optimiser state) with per-shard restore."""

    def __init__(self, tables: dict[str, list[torch.Tensor]], shards: int, layout: str = "row") -> None:
        if layout not in LAYOUTS:
            raise ConfigError(f"unknown shard layout {layout!r}; known: {', '.join(LAYOUTS)}")
        if shards < 1:
            raise ConfigError(f"shards must be >= 1, got {shards}")
        self.shards, self.layout = shards, layout
        self.tables = {name: _Table(list(tensors)) for name, tensors in sorted(tables.items())}
        for name, table in self.tables.items():
            rows = {t.shape[0] for t in table.live}
            if len(rows) != 1:
                raise ConfigError(f"table {name}: weights and optimiser state differ in rows ({sorted(rows)})")
            table.access = torch.zeros(next(iter(rows)), dtype=torch.int64)
        self.saved_step: int | None = None

    @classmethod
    def from_model(cls, model: nn.Module, optimizers: list[Any], shards: int,
                   layout: str = "row") -> "PartialCheckpointStore":
        """A store over every ``embedding_bags.<table>.weight`` of `model` and its state in `optimizers`.

        Per-row optimiser state is every state tensor with as many rows as the weight (Adagrad's
        ``sum``, Adam's moments, row-wise Adagrad's ``momentum_1``); scalar state (a step count) is
        left alone. `optimizers` may be torch optimisers (state keyed by the parameter) or TorchRec
        keyed optimisers such as the fused FBGEMM tables' ``fused_optimizer()`` (parameters by
        name): the fused tables' weights and states are live views of the kernel's buffers, so a
        restore reaches the kernel.
        """
        tables: dict[str, list[torch.Tensor]] = {}
        for name, param in model.named_parameters():
            if ".embedding_bags." in f".{name}" and name.endswith(".weight"):
                table = name.split("embedding_bags.")[1].removesuffix(".weight")
                states = [s for s in _row_states(optimizers, table, param)
                          if s.dim() >= 1 and s.shape[0] == param.shape[0]]
                tables[table] = [param.data, *states]
        if not tables:
            raise ConfigError("the model has no embedding_bags.<table>.weight parameters to checkpoint")
        return cls(tables, shards, layout)

    def shard_rows(self, table: str, shard: int) -> torch.Tensor:
        """Rows of `table` that live on `shard`."""
        rows = self.tables[table].live[0].shape[0]
        if self.layout == "row":
            return torch.arange(shard, max(rows, shard), self.shards)  # none when the table is smaller than `shard`
        index = list(self.tables).index(table)
        return torch.arange(rows) if index % self.shards == shard else torch.zeros(0, dtype=torch.int64)

    def save(self, step: int) -> int:
        """A full checkpoint of every table; returns the bytes it holds."""
        for table in self.tables.values():
            table.saved = [t.detach().clone() for t in table.live]
        self.saved_step = step
        return self.checkpoint_bytes()

    def save_rows(self, table: str, rows: torch.Tensor) -> int:
        """Refresh the checkpoint of `rows` of `table` only (CPR's MFU/SSU partial saves); returns the bytes written."""
        entry = self._saved(table)
        for saved, live in zip(entry.saved, entry.live):
            saved[rows] = live.detach()[rows]
        return int(sum(t[rows].numel() * t.element_size() for t in entry.live))

    def restore_shard(self, shard: int) -> int:
        """Revert every row on `shard` (weights and optimiser state) to the checkpoint; returns the rows reverted."""
        if not 0 <= shard < self.shards:
            raise ConfigError(f"shard {shard} is outside 0..{self.shards - 1}")
        reverted = 0
        for name in self.tables:
            rows = self.shard_rows(name, shard)
            entry = self._saved(name)
            with torch.no_grad():
                for live, saved in zip(entry.live, entry.saved):
                    live[rows] = saved[rows]
            reverted += len(rows)
        return reverted

    def restore_all(self) -> None:
        """Full recovery: every shard back to the checkpoint."""
        for shard in range(self.shards):
            self.restore_shard(shard)

    def record_access(self, table: str, ids: torch.Tensor) -> None:
        """Count the lookups of `ids` in `table` (exact counters for MFU)."""
        counts = self.tables[table].access
        assert counts is not None
        counts.index_add_(0, ids.long(), torch.ones_like(ids, dtype=torch.int64))

    def clear_access(self, table: str, rows: torch.Tensor | None = None) -> int:
        """Zero the lookup counters of `rows` of `table` (all rows when None); returns the lookups they held.

        Cleared when rows are saved or reverted, the counters count the lookups since each row's last
        checkpoint: what a failure of its shard would lose, and CPR-MFU's priority for the next save.
        """
        counts = self.tables[table].access
        assert counts is not None
        if rows is None:
            held = int(counts.sum())
            counts.zero_()
        else:
            held = int(counts[rows].sum())
            counts[rows] = 0
        return held

    def access_counts(self, table: str) -> torch.Tensor:
        """The lookup counters of `table` (a read-only copy)."""
        counts = self.tables[table].access
        assert counts is not None
        return counts.clone()

    def most_used(self, table: str, k: int) -> torch.Tensor:
        """The `k` most-looked-up rows of `table` since their counters were created or cleared (ties: lower row first)."""
        counts = self.tables[table].access
        assert counts is not None
        order = torch.argsort(-counts, stable=True)
        return order[:k]

    def checkpoint_bytes(self) -> int:
        """Bytes of a full checkpoint (weights and per-row optimiser state of every table)."""
        return int(sum(t.numel() * t.element_size() for table in self.tables.values() for t in table.live))

    def _saved(self, table: str) -> _Table:
        entry = self.tables[table]
        if not entry.saved:
            raise ConfigError("no checkpoint yet: call save() before save_rows() or a restore")
        return entry
