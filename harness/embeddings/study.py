"""Scaffolding shared by the embedding-compression reproductions (QR, MD, 4-bit, FA-SGD).

Each of those papers trains the same CTR model on Criteo with a different embedding front-end,
so the pieces live here once: the table front-ends by name, a DLRM or a DCN whose plain tables are
swapped for them, and one seed's training of it (the profile's splits come from
:func:`harness.data.profile.profile_splits`). Everything is keyed by plain dicts so that a paper's
``paper.toml`` profile parameters drive it directly.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping, TypeVar

import torch
from torch import nn
from torchrec.modules.embedding_configs import EmbeddingBagConfig

from harness.data.api import Splits
from harness.embeddings.memory import module_nbytes, parameter_count
from harness.experiment import Progress, SeedRun
from harness.embeddings.collection import TableCollection
from harness.embeddings.mixed_dim import ProjectedEmbeddingBag
from harness.embeddings.qr import HashedEmbeddingBag, QREmbeddingBag, hashing_buckets_at_budget
from harness.errors import ConfigError
from harness.models.dcn import DCN
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.trainer import TrainConfig, fit, seed_everything

TableFactory = Callable[[int, int], nn.Module]
CTRModel = TypeVar("CTRModel", DLRM, DCN)


def table_factory(kind: str, options: Mapping[str, Any]) -> TableFactory:
    """A ``(rows, dim) -> table`` maker for ``full``, ``hashing``, ``qr`` (QR trick) or ``md`` tables.

    Options: ``collisions`` (hashing, qr), ``operation`` (qr), ``dims`` (md: the width per row
    count, from :func:`~.mixed_dim.table_dims`). Tables at or below ``threshold`` rows stay plain
    (dlrm's ``--qr-threshold`` / ``--md-threshold``, default 200).
    """
    threshold = int(options.get("threshold", 200))

    def plain(rows: int, dim: int) -> nn.Module:
        table = nn.EmbeddingBag(rows, dim, mode="sum")
        bound = math.sqrt(1.0 / rows)  # DLRM's and TorchRec's initialisation of a plain table
        nn.init.uniform_(table.weight, -bound, bound)
        return table

    def make(rows: int, dim: int) -> nn.Module:
        if kind == "full" or rows <= threshold:
            return plain(rows, dim)
        if kind == "hashing":
            return HashedEmbeddingBag(rows, dim, hashing_buckets_at_budget(rows, int(options["collisions"])))
        if kind == "qr":
            return QREmbeddingBag(rows, dim, int(options["collisions"]), operation=options.get("operation", "mult"))
        if kind == "md":
            return ProjectedEmbeddingBag(rows, int(options["dims"][rows]), dim)
        raise ConfigError(f"unknown table kind {kind!r}; known: full, hashing, qr, md")

    return make


def plain_tables(table_sizes: Mapping[str, int], dim: int) -> list[EmbeddingBagConfig]:
    """One plain table of `dim` columns per feature of `table_sizes`, in its order (what a model is built with)."""
    names = list(table_sizes)
    return make_tables(names, [table_sizes[n] for n in names], dim)


def with_tables(model: CTRModel, table_sizes: Mapping[str, int], dim: int, make_table: TableFactory) -> CTRModel:
    """`model` with the plain tables of its sparse front-end replaced by `make_table`'s.

    The new :class:`TableCollection` pools the same features in the same order and width, so
    everything after the front-end (interaction, cross network, MLPs) is exactly the baseline's.
    """
    model.sparse.collection = TableCollection({n: make_table(rows, dim) for n, rows in table_sizes.items()},
                                              {n: dim for n in table_sizes})
    return model


def dlrm_with_tables(table_sizes: Mapping[str, int], dim: int, bottom: list[int], top: list[int],
                     make_table: TableFactory) -> DLRM:
    """A DLRM (harness/models/dlrm.py) whose per-feature tables come from `make_table`."""
    return with_tables(DLRM(bottom, top, plain_tables(table_sizes, dim), backend="torch"), table_sizes, dim,
                       make_table)


def dcn_with_tables(table_sizes: Mapping[str, int], dim: int, num_dense: int, cross_layers: int, deep: list[int],
                    make_table: TableFactory) -> DCN:
    """A DCN (harness/models/dcn.py) whose per-feature tables come from `make_table`.

    `num_dense` dense features are stacked after the embeddings; `cross_layers` and the `deep`
    widths are the DCN's (the QR paper: 6 and 512-256-64).
    """
    return with_tables(DCN(num_dense, plain_tables(table_sizes, dim), cross_layers, deep, backend="torch"),
                       table_sizes, dim, make_table)


def train_config(params: Mapping[str, Any], optimizer: str | None = None) -> TrainConfig:
    """The trainer settings of a profile (``epochs``, ``lr``, ``optimizer``, optional ``max_steps``)."""
    max_steps = params.get("max_steps")
    return TrainConfig(epochs=int(params["epochs"]), lr=float(params["lr"]),
                       optimizer=optimizer or str(params.get("optimizer", "adagrad")),
                       max_steps=int(max_steps) if max_steps else None)


def train_ctr(name: str, seed: int, build: Callable[[], nn.Module], splits: Splits, params: Mapping[str, Any],
              progress: Progress) -> tuple[nn.Module, SeedRun]:
    """Seed, build and train one CTR model with the shared trainer; return it and its :class:`SeedRun`.

    Besides the trainer's metrics (best-validation epoch) the run records the measured bytes and
    parameter count of the embedding front-end (``embedding_bytes``, ``embedding_params``) and of
    the whole model (``model_bytes``).
    """
    seed_everything(seed)
    model = build()
    config = train_config(params)
    progress.start_job(name, seed, config.epochs)
    started = time.perf_counter()
    result = fit(model, splits.train, {"val": splits.val, "test": splits.test}, [""], config, progress=progress)
    progress.end_job()
    sparse = model.sparse  # type: ignore[attr-defined]
    metrics = dict(result.metrics)
    metrics.update(embedding_bytes=float(module_nbytes(sparse)), embedding_params=float(parameter_count(sparse)),
                   model_bytes=float(module_nbytes(model)))
    run = SeedRun(model=name, seed=seed, metrics=metrics, curve=result.curve,
                  wall_time_s=time.perf_counter() - started, examples_per_s=result.examples_per_s,
                  config={"optimizer": config.optimizer, "lr": config.lr, "epochs": config.epochs})
    return model, run


def id_counts(batches: Any, table_sizes: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """How often each id of each key occurs in one pass over `batches` (row popularity for MD and FA-SGD)."""
    counts = {key: torch.zeros(rows, dtype=torch.float64) for key, rows in table_sizes.items()}
    for batch in batches:
        features = batch.sparse_features
        for key in counts:
            counts[key] += torch.bincount(features[key].values().long(), minlength=len(counts[key])).double()
    return counts

