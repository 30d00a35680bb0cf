"""Service times for the simulator: measured on this machine, or declared from a paper with its citation.

A simulated duration is never invented. A :class:`ServiceTime` is either ``measured`` (how: a real
training step of a model timed here, a gloo alpha-beta fit) or ``declared`` (the paper, section or
table it comes from, and whether the research notes verified it); its ``source`` goes into the run
record with the simulated numbers. :func:`measure_train_step` times real steps of a model (the
harness DLRM with FBGEMM's fused embedding optimiser) and keeps every sample, so the simulator can
resample the step-time distribution (stragglers) rather than use only its median.
:func:`measure_checkpoint_io` fits checkpoint save and load times against bytes on this machine's
disk and :func:`measure_restart` times a worker process start (CPR's O_save, O_load, O_res).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
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


@dataclass(frozen=True)
class IoFit:
    """A measured ``seconds = alpha + bytes / bytes_per_s`` fit of one storage operation (save or load)."""

    operation: str
    alpha_s: float
    bytes_per_s: float
    sizes: tuple[int, ...]
    medians_s: tuple[float, ...]
    how: str

    def time(self, nbytes: float, what: str) -> ServiceTime:
        """The fitted time of this operation on `nbytes`, ``measured``, its source naming the fit and `what`."""
        return ServiceTime(self.alpha_s + nbytes / self.bytes_per_s, "measured",
                           f"{what}: {self.operation} of {nbytes:.4g} B at alpha {self.alpha_s:.3g} s + bytes / "
                           f"{self.bytes_per_s:.3g} B/s, fitted to {self.how}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for a run record."""
        return asdict(self)


def _fit_line(sizes: Sequence[int], seconds: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``alpha + bytes * slope`` through the medians; alpha clipped at 0, slope at a tiny positive."""
    slope, alpha = np.polyfit(np.asarray(sizes, dtype=np.float64), np.asarray(seconds, dtype=np.float64), 1)
    return max(float(alpha), 0.0), max(float(slope), 1e-15)


def _drop_from_page_cache(path: Path) -> None:
    """Ask the OS to forget `path`'s cached pages (POSIX_FADV_DONTNEED; a no-op where unsupported)."""
    if hasattr(os, "posix_fadvise"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def measure_checkpoint_io(folder: Path, sizes: Sequence[int] = (1 << 20, 4 << 20, 16 << 20, 64 << 20),
                          repeats: int = 3) -> tuple[IoFit, IoFit]:
    """Fits of checkpoint save and load times on this machine's disk (CPR's O_save and O_load, Maeng et al. 2021).

    For each size, a float32 tensor of that many bytes is written with ``torch.save`` to a file in
    `folder` and forced to disk (``os.fsync``), its pages dropped from the page cache
    (``posix_fadvise(DONTNEED)``, where the OS has it), then read back with ``torch.load``; the
    median of `repeats` timings per size is fitted by a line.
    """
    if len(sizes) < 2 or repeats < 1:
        raise ConfigError(f"measure_checkpoint_io needs >= 2 sizes and >= 1 repeat, got {list(sizes)}, {repeats}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "io-probe.pt"
    saves, loads = [], []
    try:
        for size in sizes:
            tensor = torch.rand(max(size // 4, 1))
            save_s, load_s = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                with open(path, "wb") as handle:
                    torch.save(tensor, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                save_s.append(time.perf_counter() - start)
                _drop_from_page_cache(path)
                start = time.perf_counter()
                torch.load(path)
                load_s.append(time.perf_counter() - start)
            saves.append(statistics.median(save_s))
            loads.append(statistics.median(load_s))
    finally:
        path.unlink(missing_ok=True)
    fits = []
    for operation, medians, how in (("save", saves, "torch.save + fsync"), ("load", loads, "torch.load after DONTNEED")):
        alpha, slope = _fit_line(sizes, medians)
        fits.append(IoFit(operation, alpha, 1.0 / slope, tuple(int(s) for s in sizes), tuple(medians),
                          f"the medians of {repeats} {how} of {len(sizes)} sizes "
                          f"({min(sizes) / 2**20:g}-{max(sizes) / 2**20:g} MiB) on this machine"))
    return fits[0], fits[1]


def measure_restart(repeats: int = 3, statement: str = "import torch") -> ServiceTime:
    """Wall time of starting a fresh worker process (Python importing torch): the local part of a node restart.

    CPR's rescheduling overhead O_res (Maeng et al. 2021) is, on a cluster, the scheduler finding a
    machine plus the process start; only the process start exists on this machine, so this is its
    lower bound. The median of `repeats` launches of ``sys.executable -c <statement>``.
    """
    samples = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return ServiceTime(statistics.median(samples), "measured",
                       f"median of {len(samples)} starts of a worker process ({Path(sys.executable).name} -c "
                       f"'{statement}') on this machine: the process part of a restart, no scheduler delay",
                       tuple(samples))
