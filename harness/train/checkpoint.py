"""Atomic training checkpoints and the random-number state they must carry for exact resume.

A checkpoint holds the model, every optimiser (including FBGEMM's fused embedding state), the
learning-rate schedule, the Python/NumPy/torch RNG states, the training loader's position and
the loop's own bookkeeping. Files are named ``step-<9 digits>[.rank<r>].pt`` inside one folder,
written to a temporary name and renamed, so a ``kill -9`` leaves either the previous or the new
checkpoint, never a torn one. Only the newest `keep` checkpoints are kept.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.atomic import atomic_path

_NAME = re.compile(r"^step-(\d{9})(?:\.rank(\d+))?\.pt$")


def rng_state() -> dict[str, Any]:
    """The state of every global random-number generator the training loop may draw from."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _file_name(step: int, rank: int | None) -> str:
    return f"step-{step:09d}" + (f".rank{rank}" if rank is not None else "") + ".pt"


def save_checkpoint(folder: Path, step: int, payload: dict[str, Any], rank: int | None = None,
                    keep: int = 1) -> Path:
    """Write `payload` atomically as the checkpoint of `step`; delete all but the newest `keep`."""
    target = checkpoint_path(folder, step, rank)
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    for old in sorted(_checkpoints(folder, rank))[:-keep]:
        (folder / _file_name(old, rank)).unlink(missing_ok=True)
    return target


def _checkpoints(folder: Path, rank: int | None) -> list[int]:
    if not folder.is_dir():
        return []
    steps = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match and (None if match.group(2) is None else int(match.group(2))) == rank:
            steps.append(int(match.group(1)))
    return steps


def latest_step(folder: Path | None, rank: int | None = None) -> int:
    """The step of the newest checkpoint of `rank` in `folder`; -1 if there is none."""
    steps = _checkpoints(folder, rank) if folder is not None else []
    return max(steps, default=-1)


def checkpoint_path(folder: Path, step: int, rank: int | None = None) -> Path:
    """Where the checkpoint of `step` (and `rank`) lives in `folder`."""
    return folder / _file_name(step, rank)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (it holds RNG states, not only tensors)."""
    return torch.load(path, map_location="cpu", weights_only=False)
