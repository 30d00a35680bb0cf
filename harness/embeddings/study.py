"""Scaffolding shared by the embedding-compression reproductions (QR, MD, 4-bit, FA-SGD).

Each of those papers trains the same CTR model on Criteo with a different embedding front-end,
so the pieces live here once: the tables by name, a DLRM or a DCN composed with a front-end of
them, and the study variant that trains one and measures its front-end
(:func:`ctr_variant`, run by :func:`harness.study.run_study`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch
from torch import nn

from harness.embeddings.memory import module_nbytes, parameter_count
from harness.embeddings.collection import TableCollection
from harness.embeddings.mixed_dim import ProjectedEmbeddingBag
from harness.embeddings.qr import HashedEmbeddingBag, QREmbeddingBag, hashing_buckets_at_budget
from harness.errors import ConfigError
from harness.models.dcn import DCN
from harness.models.dlrm import DLRM
from harness.models.embedding import PooledEmbeddings
from harness.models.mlp import MLP
from harness.study import Trained, Variant
from harness.train.trainer import TrainConfig

TableFactory = Callable[[int, int], nn.Module]


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


def table_front_end(table_sizes: Mapping[str, int], dim: int, make_table: TableFactory) -> PooledEmbeddings:
    """The sparse front-end of a compression study: one `make_table` table of `dim` columns per feature,
    in the order of `table_sizes`."""
    return PooledEmbeddings(TableCollection({n: make_table(rows, dim) for n, rows in table_sizes.items()},
                                            {n: dim for n in table_sizes}))


def build_dlrm(table_sizes: Mapping[str, int], dim: int, bottom: list[int], top: list[int],
               make_table: TableFactory) -> DLRM:
    """A DLRM (harness/models/dlrm.py) over `make_table`'s tables: bottom MLP `bottom` (ending at
    `dim`), the tables, top MLP `top`, built in that order."""
    dense = MLP(bottom, activate_last=True)
    return DLRM(dense, table_front_end(table_sizes, dim, make_table), top)


def build_dcn(table_sizes: Mapping[str, int], dim: int, num_dense: int, cross_layers: int, deep: list[int],
              make_table: TableFactory) -> DCN:
    """A DCN (harness/models/dcn.py) over `make_table`'s tables.

    `num_dense` dense features are stacked after the embeddings; `cross_layers` and the `deep`
    widths are the DCN's (the QR paper: 6 and 512-256-64).
    """
    return DCN(table_front_end(table_sizes, dim, make_table), num_dense, cross_layers, deep)


def ctr_train_config(epochs: int, lr: float, optimizer: str, max_steps: int | None = None) -> TrainConfig:
    """The trainer settings of a compression study's CTR model (one optimizer for every parameter)."""
    return TrainConfig(epochs=epochs, lr=lr, optimizer=optimizer, max_steps=max_steps or None)


def table_collection(model: nn.Module) -> TableCollection:
    """The :class:`TableCollection` behind a CTR model's sparse front-end (its per-feature tables)."""
    collection = getattr(getattr(model, "sparse", None), "collection", None)
    if not isinstance(collection, TableCollection):
        raise TypeError(f"{type(model).__name__} has no sparse front-end of per-feature tables "
                        f"(found {type(collection).__name__})")
    return collection


def front_end_sizes(model: nn.Module) -> dict[str, float]:
    """Measured bytes and parameter count of a model's embedding front-end (``embedding_bytes``,
    ``embedding_params``)."""
    sparse: nn.Module = model.sparse  # type: ignore[assignment]
    return {"embedding_bytes": float(module_nbytes(sparse)), "embedding_params": float(parameter_count(sparse))}


def embedding_sizes(trained: Trained) -> dict[str, float]:
    """:func:`front_end_sizes` and the bytes of the whole model (``model_bytes``), measured after training."""
    return {**front_end_sizes(trained.model), "model_bytes": float(module_nbytes(trained.model))}


def ctr_variant(description: str, build: Callable[[Any], nn.Module], config: TrainConfig,
                settings: Mapping[str, Any] | None = None, source: str = "") -> Variant:
    """A CTR model of a compression study: trained by `config`, its front-end's size measured after training."""
    return Variant(description, build=build, train=config, source=source, measure=embedding_sizes,
                   settings=dict(settings or {}),
                   config={"optimizer": config.optimizer, "lr": config.lr, "epochs": config.epochs})


def id_counts(batches: Any, table_sizes: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """How often each id of each key occurs in one pass over `batches` (row popularity for MD and FA-SGD)."""
    counts = {key: torch.zeros(rows, dtype=torch.float64) for key, rows in table_sizes.items()}
    for batch in batches:
        features = batch.sparse_features
        for key in counts:
            counts[key] += torch.bincount(features[key].values().long(), minlength=len(counts[key])).double()
    return counts

