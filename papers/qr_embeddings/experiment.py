"""QR compositional embeddings vs the full table and the hashing trick in DLRM on Criteo (Shi et al. 2020).

Every model is the same DLRM (harness/models/dlrm.py); only the embedding tables above the
size threshold change: ``full`` keeps them, ``hashing_<c>`` hashes ids into as many rows as QR
keeps at ``c`` collisions (equal parameter budget), ``qr_<op>_<c>`` is the quotient-remainder
trick with operation ``op`` (mult/add/concat). All train with the same optimizer and schedule.
"""

from __future__ import annotations

from typing import Any

from repro.harness.data.profile import profile_splits
from repro.harness.embeddings.study import dlrm_with_tables, table_factory, train_ctr
from repro.harness.errors import ConfigError
from repro.harness.experiment import ExperimentContext, ExperimentResult, SeedRun


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


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Train every model of the profile for every seed; record logloss/AUC and measured table bytes."""
    p = ctx.params
    runs: list[SeedRun] = []
    full_bytes: dict[int, float] = {}
    manifest: dict[str, Any] = {}
    for seed in ctx.seeds:
        splits = profile_splits(ctx.data_dir, ctx.work_dir, p, seed)
        manifest = splits.manifest
        for name in p["models"]:
            kind, options = table_options(name, int(p["threshold"]))
            make = table_factory(kind, options)
            _, result = train_ctr(name, seed, lambda: dlrm_with_tables(splits.table_sizes, int(p["dim"]), p["bottom"],
                                                                        p["top"], make), splits, p, ctx.progress)
            if name == "full":
                full_bytes[seed] = result.metrics["embedding_bytes"]
            runs.append(result)
    for result in runs:
        if result.seed in full_bytes:
            result.metrics["bytes_vs_full"] = result.metrics["embedding_bytes"] / full_bytes[result.seed]
    notes = [f"Criteo rows: {manifest.get('splits')} (train/val/test); the paper trains one epoch on ~45M rows.",
             f"DLRM bottom {p['bottom']}, top {p['top']}, dim {p['dim']}; {p.get('optimizer', 'adagrad')} "
             f"lr {p['lr']}, batch {p['batch_size']}, {p['epochs']} epoch(s), best validation AUC epoch reported.",
             f"Tables with at most {p['threshold']} rows stay uncompressed (dlrm --qr-threshold)."]
    models = {name: dict(zip(("tables", "options"), table_options(name, int(p["threshold"])))) for name in p["models"]}
    return ExperimentResult(runs=runs, dataset=manifest, protocol_notes=notes, models=models)
