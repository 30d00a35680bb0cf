"""The frequency-aware SGD reproduction's profile parameters (``[profiles.*.params]``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from harness.params import DataParams


@dataclass(frozen=True)
class Task(DataParams):
    """One task (``[[profiles.*.params.tasks]]``): a dataset, a model and the methods' lr grids."""

    name: str = "ml1m"
    """Prefix of the task's model names (``<name>_<method>``)."""
    model: Literal["mf", "dlrm"] = "mf"
    """mf: matrix factorization (user and item tables); dlrm: DLRM on Criteo."""
    dim: int = 32
    """Embedding dimension."""
    bottom: tuple[int, ...] = ()
    """dlrm: bottom MLP widths, from the dense input to the embedding dimension."""
    top: tuple[int, ...] = ()
    """dlrm: top MLP widths after the interaction, ending in the logit."""
    epochs: int = 1
    """Passes over the training split."""
    methods: tuple[str, ...] = ("sgd", "fa_sgd", "cf_sgd", "adagrad", "adam")
    """Table optimizers compared: sgd, fa_sgd, cf_sgd, adagrad, adam."""
    lrs: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per method, the learning rates tried on the tuning seed (the best by validation AUC is kept)."""
    dense_optimizer: str | None = None
    """Optimizer of the non-table parameters for every method; unset: the method's own dense counterpart."""
    dense_lr: float | None = None
    """Learning rate of dense_optimizer."""


@dataclass(frozen=True)
class Params:
    """FA-SGD and CF-SGD against SGD, Adagrad and Adam (Li et al. 2022): one entry per task."""

    tasks: tuple[Task, ...] = ()
    """The tasks of the profile."""
    tuning_seed: int = 1000
    """The seed the lr grids are tried on: outside the evaluated seeds, so no evaluated run is the one
    its learning rate was selected on (its data split and initialisation are its own)."""
