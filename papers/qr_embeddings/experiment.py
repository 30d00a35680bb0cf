"""QR compositional embeddings vs the full table and the hashing trick in DLRM and DCN on Criteo (Shi et al. 2020).

Each architecture of the profile (``dlrm``: harness/models/dlrm.py, ``dcn``: harness/models/dcn.py)
is trained with every table variant of the profile; only the embedding tables above the size
threshold change: ``full`` keeps them, ``hashing_<c>`` hashes ids into as many rows as QR keeps at
``c`` collisions (equal parameter budget), ``qr_<op>_<c>`` is the quotient-remainder trick with
operation ``op`` (mult/add/concat). Runs are named ``<architecture>_<variant>`` (``dcn_qr_mult_4``).
All train with the same optimizer and schedule.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from harness.data.api import Splits
from harness.data.profile import profile_splits
from harness.embeddings.study import ctr_train_config, ctr_variant, build_dcn, build_dlrm, table_factory
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult
from harness.params import as_table
from harness.study import Study, Variant, ratio, relative_to_baseline, run_study
from papers.qr_embeddings.params import Params

ARCHITECTURES: tuple[str, ...] = ("dlrm", "dcn")


def table_options(model: str, threshold: int) -> tuple[str, dict[str, Any]]:
    """``full`` / ``hashing_<c>`` / ``qr_<op>_<c>`` -> (table kind, options for :func:`table_factory`)."""
    parts = model.split("_")
    try:
        if parts == ["full"]:
            return "full", {"threshold": threshold}
        if parts[0] == "hashing" and len(parts) == 2:
            return "hashing", {"collisions": int(parts[1]), "threshold": threshold}
        if parts[0] == "qr" and len(parts) == 3:
            return "qr", {"operation": parts[1], "collisions": int(parts[2]), "threshold": threshold}
    except ValueError:
        pass
    raise ConfigError(f"qr-embeddings: model {model!r} is not full, hashing_<collisions> or qr_<op>_<collisions>")


def architectures(p: Params) -> list[str]:
    """The profile's ``architectures``, each checked against :data:`ARCHITECTURES`."""
    unknown = [name for name in p.architectures if name not in ARCHITECTURES]
    if unknown:
        raise ConfigError(f"qr-embeddings: unknown architecture(s) {unknown}; known: {', '.join(ARCHITECTURES)}")
    return list(p.architectures)


def model_builder(architecture: str, p: Params, kind: str, options: dict[str, Any]) -> Callable[[Splits], nn.Module]:
    """A builder of `architecture` over a split's features with `kind` tables, sized by the profile.

    DLRM reads ``bottom`` and ``top``; DCN reads ``cross_layers`` and ``deep`` (its ``x_0`` stacks
    the embeddings with the split's dense features).
    """
    make_table = table_factory(kind, options)
    if architecture == "dlrm":
        return lambda splits: build_dlrm(splits.table_sizes, p.dim, list(p.bottom), list(p.top), make_table)
    return lambda splits: build_dcn(splits.table_sizes, p.dim, splits.num_dense, p.cross_layers, list(p.deep),
                                          make_table)


def architecture_note(architecture: str, p: Params) -> str:
    """One protocol sentence describing `architecture` as the profile sizes it."""
    if architecture == "dlrm":
        return f"DLRM: bottom MLP {list(p.bottom)}, top MLP {list(p.top)}, dot interaction."
    return (f"DCN: x0 = pooled embeddings + dense features, {p.cross_layers} cross layers (DCN v1, vector "
            f"weights) in parallel with a deep ReLU MLP {list(p.deep)}, linear logit over both.")


def variants(p: Params) -> dict[str, Variant]:
    """``<architecture>_<table variant>`` for every architecture and table variant of the profile."""
    config = ctr_train_config(p.epochs, p.lr, p.optimizer, p.max_steps)
    table = {name: table_options(name, p.threshold) for name in p.models}
    return {f"{arch}_{name}": ctr_variant(f"{arch.upper()} with {kind} tables {options}",
                                          model_builder(arch, p, kind, options), config,
                                          {"architecture": arch, "tables": kind, "options": options})
            for arch in architectures(p) for name, (kind, options) in table.items()}


def study(ctx: ExperimentContext) -> Study:
    """The profile's variants on the Criteo splits of each seed."""
    p: Params = ctx.params
    return Study(variants=variants(p),
                 data=lambda source, seed: profile_splits(ctx.data_dir, ctx.work_dir, as_table(p), seed))


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Train every architecture x table variant for every seed; record logloss/AUC and measured table bytes.

    ``bytes_vs_full`` divides a run's table bytes by those of the same architecture's ``full`` run
    of the same seed.
    """
    p: Params = ctx.params
    result = run_study(ctx, study)
    relative_to_baseline(result.runs, lambda model: f"{model.split('_')[0]}_full",
                         {"bytes_vs_full": ("embedding_bytes", ratio)})
    manifest = result.first_data().manifest
    notes = [f"Criteo rows: {manifest.get('splits')} (train/val/test); the paper trains one epoch on ~45M rows.",
             *(architecture_note(arch, p) for arch in architectures(p)),
             f"Embedding dim {p.dim}; {p.optimizer} lr {p.lr}, batch {p.batch_size}, "
             f"{p.epochs} epoch(s), best validation AUC epoch reported.",
             f"Tables with at most {p.threshold} rows stay uncompressed (dlrm --qr-threshold)."]
    return ExperimentResult(runs=result.runs, dataset=manifest, protocol_notes=notes, models=result.models)
