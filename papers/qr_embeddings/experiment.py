"""QR compositional embeddings vs the full table and the hashing trick in DLRM and DCN on Criteo (Shi et al. 2020).

Each architecture of the profile (``dlrm``: harness/models/dlrm.py, ``dcn``: harness/models/dcn.py)
is trained with every table variant of the profile; only the embedding tables above the size
threshold change: ``full`` keeps them, ``hashing_<c>`` hashes ids into as many rows as QR keeps at
``c`` collisions (equal parameter budget), ``qr_<op>_<c>`` is the quotient-remainder trick with
operation ``op`` (mult/add/concat). Runs are named ``<architecture>_<variant>`` (``dcn_qr_mult_4``).
All train with the same optimizer and schedule.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from torch import nn

from harness.data.api import Splits
from harness.data.profile import profile_splits
from harness.embeddings.study import TableFactory, dcn_with_tables, dlrm_with_tables, table_factory, train_ctr
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun

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


def architectures(params: Mapping[str, Any]) -> list[str]:
    """The profile's ``architectures``, each checked against :data:`ARCHITECTURES`."""
    names = list(params["architectures"])
    unknown = [name for name in names if name not in ARCHITECTURES]
    if unknown:
        raise ConfigError(f"qr-embeddings: unknown architecture(s) {unknown}; known: {', '.join(ARCHITECTURES)}")
    return names


def model_builder(architecture: str, splits: Splits, params: Mapping[str, Any],
                  make_table: TableFactory) -> Callable[[], nn.Module]:
    """A builder of `architecture` with `make_table`'s tables, sized by the profile.

    DLRM reads ``bottom`` and ``top``; DCN reads ``cross_layers`` and ``deep`` (its ``x_0`` stacks
    the embeddings with the split's dense features).
    """
    dim = int(params["dim"])
    if architecture == "dlrm":
        return lambda: dlrm_with_tables(splits.table_sizes, dim, params["bottom"], params["top"], make_table)
    return lambda: dcn_with_tables(splits.table_sizes, dim, splits.num_dense, int(params["cross_layers"]),
                                   params["deep"], make_table)


def architecture_note(architecture: str, params: Mapping[str, Any]) -> str:
    """One protocol sentence describing `architecture` as the profile sizes it."""
    if architecture == "dlrm":
        return f"DLRM: bottom MLP {params['bottom']}, top MLP {params['top']}, dot interaction."
    return (f"DCN: x0 = pooled embeddings + dense features, {params['cross_layers']} cross layers (DCN v1, vector "
            f"weights) in parallel with a deep ReLU MLP {params['deep']}, linear logit over both.")


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Train every architecture x table variant for every seed; record logloss/AUC and measured table bytes.

    ``bytes_vs_full`` divides a run's table bytes by those of the same architecture's ``full`` run
    of the same seed.
    """
    p = ctx.params
    threshold = int(p["threshold"])
    archs = architectures(p)
    variants = {name: table_options(name, threshold) for name in p["models"]}
    runs: list[tuple[str, SeedRun]] = []
    full_bytes: dict[tuple[str, int], float] = {}
    manifest: dict[str, Any] = {}
    for seed in ctx.seeds:
        splits = profile_splits(ctx.data_dir, ctx.work_dir, p, seed)
        manifest = splits.manifest
        for arch in archs:
            for name, (kind, options) in variants.items():
                build = model_builder(arch, splits, p, table_factory(kind, options))
                _, result = train_ctr(f"{arch}_{name}", seed, build, splits, p, ctx.progress)
                if name == "full":
                    full_bytes[arch, seed] = result.metrics["embedding_bytes"]
                runs.append((arch, result))
    for arch, result in runs:
        if (arch, result.seed) in full_bytes:
            result.metrics["bytes_vs_full"] = result.metrics["embedding_bytes"] / full_bytes[arch, result.seed]
    notes = [f"Criteo rows: {manifest.get('splits')} (train/val/test); the paper trains one epoch on ~45M rows.",
             *(architecture_note(arch, p) for arch in archs),
             f"Embedding dim {p['dim']}; {p.get('optimizer', 'adagrad')} lr {p['lr']}, batch {p['batch_size']}, "
             f"{p['epochs']} epoch(s), best validation AUC epoch reported.",
             f"Tables with at most {threshold} rows stay uncompressed (dlrm --qr-threshold)."]
    models = {f"{arch}_{name}": {"architecture": arch, "tables": kind, "options": options}
              for arch in archs for name, (kind, options) in variants.items()}
    return ExperimentResult(runs=[result for _, result in runs], dataset=manifest, protocol_notes=notes, models=models)
