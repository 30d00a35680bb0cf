"""The contract between the runner (`repro run`) and a paper's reproduction.

A paper folder exposes ``experiment.run(ctx: ExperimentContext) -> ExperimentResult``. The runner
builds the context (profile, seeds, device, data directory, the paper's typed parameters, a
progress sink), the paper trains its models (through :func:`harness.study.run_study`) and returns
per-(model, seed) metrics and curves; the runner then evaluates the claims, writes the run record
and prints the verdicts. Keeping this contract in the harness lets a paper
stay ignorant of the CLI, the claims engine and the report.

Quantities named in claims are ``"<model>:<metric>"``; :meth:`ExperimentResult.measurements`
gathers them across seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Progress(Protocol):
    """Where a paper reports live progress (models x seeds, epochs, examples/s)."""

    def start_job(self, model: str, seed: int, epochs: int) -> None:
        """A new (model, seed) training job begins; `epochs` is its planned length."""

    def update(self, epoch: int, examples_per_s: float, message: str = "") -> None:
        """The current job finished `epoch` (1-based) at `examples_per_s`."""

    def end_job(self) -> None:
        """The current job finished."""

    def log(self, message: str) -> None:
        """A line the user should read (a warning, the protocol in use)."""


class NullProgress:
    """A progress sink that reports nothing (tests, benchmarks, notebooks)."""

    def start_job(self, model: str, seed: int, epochs: int) -> None:
        """Ignore."""

    def update(self, epoch: int, examples_per_s: float, message: str = "") -> None:
        """Ignore."""

    def end_job(self) -> None:
        """Ignore."""

    def log(self, message: str) -> None:
        """Ignore."""


@dataclass(frozen=True)
class ExperimentContext:
    """Everything a paper's `run` needs, resolved by the runner.

    `params` is the paper's ``Params`` dataclass (``papers/<id>/params.py``) filled from the
    profile's ``paper.toml`` table after the ``--set`` overrides; `work_dir` is a scratch folder
    inside the run record for checkpoints and caches.
    """

    paper_id: str
    profile: str
    seeds: list[int]
    device: str
    data_dir: Path
    work_dir: Path
    params: Any
    progress: Progress = field(default_factory=NullProgress)
    jobs: int = 1  # independent (model, seed) trainings run side by side (harness.parallel)


@dataclass
class SeedRun:
    """One trained (model, seed): its final metrics, its per-epoch curve, and its cost.

    `wall_time_s` is the training loop's time with its evaluations (summed over resumes); for a run
    derived from a trained model without training (e.g. its quantized tables), the derivation's and
    its evaluation's.
    """

    model: str
    seed: int
    metrics: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)
    wall_time_s: float = 0.0
    examples_per_s: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExperimentResult:
    """What a paper's `run` returns to the runner.

    `dataset` is the dataset manifest (files with sha256, rows, split sizes, protocol);
    `protocol_notes` are plain sentences the verdict table and report must show, e.g. that the
    paper's own split could not be used and what replaced it.
    """

    runs: list[SeedRun]
    dataset: dict[str, Any]
    protocol_notes: list[str] = field(default_factory=list)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    def measurements(self) -> dict[str, list[float]]:
        """Map each quantity ``"<model>:<metric>"`` to its values, one per seed, in seed order."""
        gathered: dict[str, list[tuple[int, float]]] = {}
        for run in self.runs:
            for metric, value in run.metrics.items():
                gathered.setdefault(f"{run.model}:{metric}", []).append((run.seed, float(value)))
        return {key: [v for _, v in sorted(pairs)] for key, pairs in gathered.items()}
