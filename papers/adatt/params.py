"""The AdaTT reproduction's profile parameters (``[profiles.*.params]`` of ``paper.toml``).

Defaults are the training recipe of BorealisAI/MMoEEx-MTL (config/config_census.yaml, main.py),
the framework AdaTT's census experiment adapted, and Table 5's towers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Params:
    """AdaTT and its baselines on UCI Census-Income (KDD), every model x seed."""

    data: Literal["census", "synthetic"] = "census"
    """census: the real files of the data directory; synthetic: rows in the census format (smoke)."""
    synthetic_train_rows: int = 4000
    """Rows of the synthetic training file."""
    synthetic_test_rows: int = 2000
    """Rows of the synthetic test file."""
    education_label: Literal["mmoeex", "bachelor_plus"] = "mmoeex"
    """How the education task is labelled (harness.data.census.EDUCATION_LABELS)."""
    epochs: int = 10
    """MMoEEx config_census.yaml max_epochs."""
    batch_size: int = 512
    """MMoEEx config_census.yaml."""
    lr: float = 1e-4
    """Adam learning rate (MMoEEx main.py, census)."""
    weight_decay: float = 0.01
    """Adam's coupled L2 (MMoEEx main.py)."""
    lr_decay: float = 0.9
    """ExponentialLR gamma, per epoch (MMoEEx main.py)."""
    eval_batch_size: int = 8192
    """Evaluation only; no effect on results."""
    tower_hidden: tuple[int, ...] = (32,)
    """Hidden widths of each task's tower (Table 5)."""
    models: tuple[str, ...] | None = None
    """Which models of experiment.MODELS to train; unset: all."""
