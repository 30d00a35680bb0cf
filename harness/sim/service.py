"""Service times for the simulator: measured on this machine, or declared from a paper with its citation.

A simulated duration is never invented. A :class:`ServiceTime` is either ``measured`` (how: a real
training step of a model timed here, a gloo alpha-beta fit) or ``declared`` (the paper, section or
table it comes from, and whether the research notes verified it); its ``source`` goes into the run
record with the simulated numbers. :func:`measure_train_step` times real steps of a model (the
harness DLRM with FBGEMM's fused embedding optimiser) and keeps every sample, so the simulator can
resample the step-time distribution (stragglers) rather than use only its median.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from harness.cluster.comm import CollectiveFit
from harness.errors import ConfigError
from harness.train.optim import SparseSpec, build_optimizers


@dataclass(frozen=True)
class ServiceTime:
    """A duration in seconds with where it comes from; `samples` (if measured) for resampling."""

    seconds: float
    kind: str
    source: str
    samples: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in ("measured", "declared"):
            raise ConfigError(f"a service time is 'measured' or 'declared', got {self.kind!r}")
        if not self.source.strip():
            raise ConfigError("a service time needs its source: how it was measured, or the paper and section "
                              "it is declared from (a number without a source is invented)")
        if self.seconds < 0:
            raise ConfigError(f"a service time cannot be negative ({self.seconds} s from {self.source})")

    def scaled(self, factor: float, why: str) -> "ServiceTime":
        """This time times `factor` (e.g. a declared GPU/CPU speed ratio), the reason appended to the source."""
        return ServiceTime(self.seconds * factor, self.kind, f"{self.source}; x{factor:g} ({why})",
                           tuple(s * factor for s in self.samples))

    def sampler(self, rng: np.random.Generator, jitter: bool) -> Callable[[], float]:
        """A draw of this time: the measured samples resampled if `jitter` and there are any, else the value."""
        if jitter and self.samples:
            pool = np.asarray(self.samples)
            return lambda: float(pool[rng.integers(len(pool))])
        return lambda: self.seconds

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for a run record."""
        return asdict(self)


def declared(seconds: float, citation: str) -> ServiceTime:
    """A duration taken from a paper: `citation` names the paper, section/table and its verification status."""
    return ServiceTime(seconds, "declared", citation)


def collective_time(fit: CollectiveFit, nbytes: float) -> ServiceTime:
    """One collective call on `nbytes` per rank, from a measured alpha-beta fit."""
    return ServiceTime(fit.predict_s(nbytes), "measured",
                       f"{fit.collective} over {fit.world} gloo ranks on this machine: alpha {fit.alpha_s:.3g} s + "
                       f"{nbytes:.0f} B / {fit.bandwidth_bytes_per_s:.3g} B/s (harness.cluster.comm.calibrate)")


def measure_train_step(model: nn.Module, batches: Sequence[Any], steps: int = 20, warmup: int = 3,
                       sparse: SparseSpec | None = SparseSpec("sgd", 0.05), dense_lr: float = 0.05,
                       what: str = "DLRM") -> ServiceTime:
    """Time `steps` real training steps (forward, BCE loss, backward, optimiser) of `model` on `batches`.

    Embedding tables get FBGEMM's fused optimiser as in the trainer (:func:`build_optimizers`,
    which fuses `model`'s tables in place: pass a model built for timing); the first `warmup` steps (allocator, kernel selection) are not timed. Returns the median with
    every sample, ``measured``, the source naming the model, the batch size and the thread count.
    """
    device = torch.device("cpu")
    model, optimizers = build_optimizers(model, "sgd", dense_lr, 0.0, sparse, device)
    criterion = nn.BCEWithLogitsLoss()
    samples = []
    for i in range(warmup + steps):
        batch = batches[i % len(batches)]
        start = time.perf_counter()
        optimizers.zero_grad()
        loss = criterion(model(batch), batch.labels)
        loss.backward()
        optimizers.step()
        if i >= warmup:
            samples.append(time.perf_counter() - start)
    size = int(batches[0].labels.shape[0])
    return ServiceTime(statistics.median(samples), "measured",
                       f"median of {steps} training steps of {what} (batch {size}, {torch.get_num_threads()} "
                       f"thread(s), fused {sparse.name if sparse else 'no'} embedding optimiser) on this machine",
                       tuple(samples))
