"""The mixed-dimension embeddings reproduction's profile parameters (``[profiles.*.params]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.params import DataParams


@dataclass(frozen=True)
class Task(DataParams):
    """One task (``[[profiles.*.params.tasks]]``): a dataset, a model family and its variants."""

    name: str = "ctr"
    """Prefix of the task's model names (``<name>_<model>``)."""
    kind: Literal["ctr", "cf"] = "ctr"
    """ctr: DLRM on click data (BCE); cf: matrix factorization on explicit ratings (MSE)."""
    models: tuple[str, ...] = ()
    """Variants: uniform_<dim> or md_<alpha>_<factor>x (alpha rule at 1/factor of the uniform_<base_dim> parameters)."""
    base_dim: int = 32
    """The base (widest) embedding width."""
    bottom: tuple[int, ...] = ()
    """ctr: DLRM bottom MLP widths before the embedding width (which is appended)."""
    top: tuple[int, ...] = ()
    """ctr: DLRM top MLP widths after the interaction, ending in the logit."""
    blocks: int = 8
    """cf: frequency blocks per table (equal popularity mass, paper Sec. 3)."""
    mean_rating: float = 3.5
    """cf: the global bias's starting value."""
    epochs: int = 1
    """Passes over the training split."""
    lr: float = 0.001
    """Adam learning rate."""
    optimizer: str = "adagrad"
    """ctr: optimizer of every parameter (cf always uses Adam)."""
    max_steps: int | None = None
    """ctr: stop training after N steps."""


@dataclass(frozen=True)
class Params:
    """Mixed-dimension embeddings against uniform widths (Ginart et al. 2019): one entry per task."""

    tasks: tuple[Task, ...] = ()
    """The tasks of the profile, each with its own data, models and recipe."""
