"""Failures injected into a real training run: full recovery, partial recovery and CPR's MFU / SSU saves.

CPR (Maeng et al., arXiv 2011.02999, MLSys 2021) keeps the embedding tables on ``N_emb`` parameter
-server shards. :class:`RecoveryEmulation` wraps the trainer's training batches and, between two
steps, does what the cluster would do at that point of training, in samples processed (replayed
samples included, so the CPU's speed does not change the result, spec Sec. 5 pitfalls):

* ``none``: nothing (the no-failure baseline);
* ``full``: every ``save_every`` samples a snapshot of the whole training state (dense and
  embedding weights, every optimiser state); on a failure everything goes back to it and the
  batches trained since are trained again (the lost work is redone);
* ``partial``: every ``save_every`` samples a checkpoint of every table (weights and row-wise
  Adagrad state, :class:`~harness.cluster.failures.PartialCheckpointStore`); on a failure only the
  failed shard's rows go back to it, the dense layers and the other shards keep their updates;
* ``mfu`` (CPR-MFU): after a first full checkpoint, every ``budget * save_every`` samples the
  ``budget`` fraction of each table's rows with the most lookups since their last save is saved;
  the bytes saved per sample equal ``partial``'s;
* ``ssu`` (CPR-SSU): the same budget, but the rows saved are drawn from a sub-sample of the used
  rows (each lookup recorded with probability ``ssu_rate``, so a row enters the set with a probability
  that grows with its use), a cheaper tracker than MFU's exact counters.

Lookup counters since each row's last save measure what a failure loses: the lost-update fraction
(lookups of reverted rows since their save / all lookups) is the measured counterpart of CPR's PLS.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

import numpy as np
import torch
from torch import nn

from harness.cluster.failures import PartialCheckpointStore, failure_times
from harness.errors import ConfigError
from harness.train.optim import Optimizers
from harness.train.trainer import Batch, BatchSource

Mode = Literal["none", "full", "partial", "mfu", "ssu"]
MODES: tuple[str, ...] = ("none", "full", "partial", "mfu", "ssu")


@dataclass(frozen=True)
class RecoveryPlan:
    """When the emulated cluster saves and fails, in samples processed, and how it recovers."""

    mode: Mode
    shards: int = 8
    save_every: int = 0
    failures_at: tuple[float, ...] = ()
    failed_shards: tuple[int, ...] = ()
    budget: float = 1.0
    ssu_rate: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"cpr: unknown recovery mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.mode != "none" and self.save_every <= 0:
            raise ConfigError(f"cpr: recovery mode {self.mode!r} needs save_every > 0 samples, got {self.save_every}")
        if len(self.failures_at) != len(self.failed_shards):
            raise ConfigError("cpr: one failed shard per failure time")
        if not 0 < self.budget <= 1:
            raise ConfigError(f"cpr: budget must be in (0, 1], got {self.budget}")

    @property
    def partial_every(self) -> int:
        """Samples between MFU/SSU partial saves: ``budget * save_every`` (at least one sample)."""
        return max(int(round(self.budget * self.save_every)), 1)


def plan_failures(mtbf_samples: float, horizon: float, shards: int, seed: int) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Poisson failure times (samples) over `horizon` and the shard each one takes down, both from `seed`."""
    rng = np.random.default_rng([seed, 2011_02999])
    times = failure_times(mtbf_samples, horizon, rng)
    return tuple(float(t) for t in times), tuple(int(s) for s in rng.integers(shards, size=len(times)))


def table_of(key: str) -> str:
    """The harness DLRM's table name of a sparse feature key (``make_tables``: ``t_<key>``)."""
    return f"t_{key}"


@dataclass
class EmulationStats:
    """What the emulation did, for the run record."""

    failures: int = 0
    saves: int = 0
    saved_bytes: int = 0
    lookups: int = 0
    lost_lookups: int = 0
    replayed_samples: int = 0
    samples: int = 0

    def metrics(self) -> dict[str, float]:
        """The run's metrics: counts, the lost-update fraction (measured PLS) and bytes saved per sample."""
        return {"failures": float(self.failures), "saves": float(self.saves),
                "lost_update_fraction": self.lost_lookups / max(self.lookups, 1),
                "saved_bytes_per_sample": self.saved_bytes / max(self.samples - self.replayed_samples, 1),
                "replayed_fraction": self.replayed_samples / max(self.samples - self.replayed_samples, 1)}


class RecoveryEmulation:
    """The training batches of one job, with the saves, failures and recoveries of `plan` done between steps.

    Call :meth:`attach` with the model and its optimisers before training (the trainer iterates
    this object as its training batch source).
    """

    def __init__(self, batches: BatchSource, plan: RecoveryPlan) -> None:
        self.batches, self.plan = batches, plan
        self.stats = EmulationStats()
        self.clock = 0
        self._model: nn.Module | None = None
        self._optimizers: Optimizers | None = None
        self._store: PartialCheckpointStore | None = None
        self._snapshot: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._since_save: list[Batch] = []
        self._failure = 0
        self._next_save = 0
        self._sampled: dict[str, torch.Tensor] = {}
        self._rng = torch.Generator().manual_seed(plan.seed)

    def attach(self, model: nn.Module, optimizers: Optimizers) -> None:
        """The model and optimisers whose state the emulation saves and reverts (tables: fused FBGEMM or torch)."""
        self._model, self._optimizers = model, optimizers
        if self.plan.mode in ("partial", "mfu", "ssu"):
            self._store = PartialCheckpointStore.from_model(model, optimizers.sparse, self.plan.shards, layout="row")
            self._sampled = {name: torch.zeros(len(t.access), dtype=torch.bool)  # type: ignore[arg-type]
                             for name, t in self._store.tables.items()}

    @property
    def store(self) -> PartialCheckpointStore | None:
        """The partial checkpoint store (partial, MFU and SSU modes)."""
        return self._store

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch to the wrapped loader (its shuffling order)."""
        if hasattr(self.batches, "set_epoch"):
            self.batches.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:
        if self.plan.mode != "none" and self._model is None:
            raise ConfigError("cpr: attach() the model and optimisers before training under a recovery plan")
        for batch in self.batches:
            queue = deque([batch])
            while queue:
                current = queue.popleft()
                if self.plan.mode != "none":
                    self._save_if_due()
                    if self._fail_if_due():
                        if self.plan.mode == "full":
                            queue = deque([*self._since_save, current, *queue])
                            self._since_save = []
                            continue
                    self.track(current)
                yield current
                size = int(current.labels.shape[0])
                self.clock += size
                self.stats.samples += size

    # ------------------------------------------------------------------ saves
    def _save_if_due(self) -> None:
        while self.clock >= self._next_save:
            first = self._next_save == 0
            if self.plan.mode == "full":
                self._save_full()
            elif self.plan.mode == "partial" or first:
                assert self._store is not None
                self.stats.saved_bytes += self._store.save(self.clock)
                for name in self._store.tables:
                    self._store.clear_access(name)
                    self._sampled[name].zero_()
            else:
                self._save_priority_rows()
            self.stats.saves += 1
            every = self.plan.partial_every if self.plan.mode in ("mfu", "ssu") else self.plan.save_every
            self._next_save += every

    def _save_full(self) -> None:
        assert self._model is not None and self._optimizers is not None
        self._snapshot = (copy.deepcopy(self._model.state_dict()), copy.deepcopy(self._optimizers.state_dict()))
        self._since_save = []
        self.stats.saved_bytes += sum(t.numel() * t.element_size() for t in self._snapshot[0].values()
                                      if isinstance(t, torch.Tensor))

    def _save_priority_rows(self) -> None:
        """MFU: the most-looked-up rows since their last save; SSU: rows from the sampled set of used rows."""
        store = self._store
        assert store is not None
        for name in store.tables:
            counts = store.access_counts(name)
            budget = max(int(round(self.plan.budget * len(counts))), 1)
            if self.plan.mode == "mfu":
                rows = store.most_used(name, budget)
                rows = rows[counts[rows] > 0]
            else:
                rows = torch.nonzero(self._sampled[name]).flatten()
                if len(rows) > budget:
                    rows = rows[torch.randperm(len(rows), generator=self._rng)[:budget]]
                self._sampled[name][rows] = False
            if len(rows):
                self.stats.saved_bytes += store.save_rows(name, rows)
                store.clear_access(name, rows)

    # ------------------------------------------------------------------ failures
    def _fail_if_due(self) -> bool:
        failed = False
        while self._failure < len(self.plan.failures_at) and self.clock >= self.plan.failures_at[self._failure]:
            shard = self.plan.failed_shards[self._failure]
            self._failure += 1
            self.stats.failures += 1
            failed = True
            if self.plan.mode == "full":
                self._restore_full()
            else:
                self._restore_shard(shard)
        return failed

    def _restore_full(self) -> None:
        assert self._model is not None and self._optimizers is not None and self._snapshot is not None
        self._model.load_state_dict(self._snapshot[0])
        self._optimizers.load_state_dict(copy.deepcopy(self._snapshot[1]))
        self.stats.replayed_samples += sum(int(b.labels.shape[0]) for b in self._since_save)

    def _restore_shard(self, shard: int) -> None:
        store = self._store
        assert store is not None
        for name in store.tables:
            rows = store.shard_rows(name, shard)
            self.stats.lost_lookups += store.clear_access(name, rows)
        store.restore_shard(shard)

    # ------------------------------------------------------------------ tracking
    def track(self, batch: Batch) -> None:
        """Count the batch's lookups (and sample them for SSU); keep it for a full recovery's replay."""
        if self.plan.mode == "full":
            self._since_save.append(batch)
            return
        store = self._store
        assert store is not None
        features = batch.sparse_features  # type: ignore[attr-defined]
        values = features.values()
        self.stats.lookups += int(values.numel())
        keep = torch.rand(values.numel(), generator=self._rng) < self.plan.ssu_rate if self.plan.mode == "ssu" else None
        start = 0
        for key, length in zip(features.keys(), features.length_per_key()):
            ids, name = values[start:start + length], table_of(key)
            store.record_access(name, ids)
            if keep is not None:
                self._sampled[name][ids[keep[start:start + length]]] = True
            start += length
