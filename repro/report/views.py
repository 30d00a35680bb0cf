"""Turn run records (plain JSON dicts) into the small, flat structures the report's templates show.

Every function here is pure: it reads a record and returns rows of strings and numbers, so the
templates stay free of logic and the report can be tested without rendering HTML. A record may
come from an older schema or miss optional fields; the views then show "—" instead of failing.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from repro.claims import Summary, count_statuses, count_underpowered

MISSING = "—"
RELATION_SPLIT = re.compile(r"(\s(?:>=|<=|>|<)\s)")
HIGHER_IS_BETTER = {"auc", "gauc", "accuracy", "recall", "ndcg", "hr", "hit"}
LOWER_IS_BETTER = {"loss", "logloss", "ne", "error", "mse", "rmse"}


def verdict_counts(record: dict[str, Any]) -> dict[str, int]:
    """The record's verdict counts (reproduced / not reproduced / inconclusive), recomputed if absent."""
    counts = record.get("verdict_counts")
    if isinstance(counts, dict) and counts:
        return {k: int(v) for k, v in counts.items()}
    return count_statuses(record.get("verdicts", []))


def status_class(status: str) -> str:
    """A CSS-safe class for a verdict status: ``"not reproduced"`` -> ``"v-not-reproduced"``."""
    return "v-" + "-".join(str(status).split())


def is_smoke(record: dict[str, Any]) -> bool:
    """Whether a run is a smoke run (tests the pipeline, not the paper): kept apart from real runs."""
    return bool(record.get("smoke")) or record.get("profile") == "smoke"


def latest_real(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest run of `runs` (oldest first) that is not a smoke run, else the newest run, else None."""
    real = [r for r in runs if not is_smoke(r)]
    return real[-1] if real else (runs[-1] if runs else None)


def underpowered_count(record: dict[str, Any]) -> int:
    """Claims inconclusive because the run is underpowered at this scale (recomputed if absent)."""
    value = record.get("underpowered_count")
    return int(value) if isinstance(value, int) else count_underpowered(record.get("verdicts", []))


def at_a_glance(record: dict[str, Any]) -> dict[str, Any]:
    """The run's claims picture: counts and their shares, underpowered, degenerate, facts, Holm family.

    ``segments`` are the bar's parts (status, css class, count, percent of the claims), with the
    underpowered share of the inconclusive claims as a part of its own.
    """
    counts = verdict_counts(record)
    total = sum(counts.values())
    under = underpowered_count(record)
    degenerate = sum(bool(v.get("degenerate")) for v in record.get("verdicts", []))
    parts = [("reproduced", counts.get("reproduced", 0)), ("not reproduced", counts.get("not reproduced", 0)),
             ("inconclusive", counts.get("inconclusive", 0) - under), ("underpowered", under)]
    segments = [{"label": label, "css": status_class("inconclusive" if label == "underpowered" else label)
                 + (" underpowered" if label == "underpowered" else ""), "count": n,
                 "percent": 100.0 * n / total if total else 0.0} for label, n in parts if n]
    testing = record.get("multiple_testing") or {}
    return {"total": total, "counts": counts, "underpowered": under, "degenerate": degenerate,
            "facts": len(record.get("facts") or []), "segments": segments,
            "method": testing.get("method"), "family": testing.get("family_size"),
            "smoke": is_smoke(record), "banner": record.get("banner")}


def protocol_rows(record: dict[str, Any]) -> dict[str, Any]:
    """The paper's protocol beside this run's: ``{"rows": [(aspect, paper, ours)], "source"}``."""
    paper, ours = record.get("paper_protocol") or {}, record.get("run_protocol") or {}
    if not paper and not ours:
        return {"rows": [], "source": ""}
    rows = [(key, str(paper.get(key, "not stated")), str(ours.get(key, MISSING)))
            for key in ("data", "rows", "epochs", "seeds", "recipe")]
    return {"rows": rows, "source": str(paper.get("source", ""))}


def fact_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The computed facts shown beside the claims (never verdicts)."""
    return [{"id": f.get("claim_id", MISSING), "statement": f.get("statement", ""), "source": f.get("source", MISSING),
             "paper": f.get("paper", MISSING), "ours": f.get("ours", MISSING), "text": f.get("text", ""),
             "transferred": bool(f.get("transferred", False))} for f in record.get("facts") or []]


def _p_text(verdict: dict[str, Any]) -> str:
    """``p 0.012 · Holm 0.048`` for a tested claim, empty otherwise."""
    raw, adjusted = verdict.get("p_value"), verdict.get("p_adjusted")
    if not isinstance(raw, (int, float)):
        return ""
    text = f"p {raw:.3g}"
    if isinstance(adjusted, (int, float)) and adjusted != raw:
        method = ((verdict.get("adjustment") or {}).get("method") or "adjusted").capitalize()
        text += f" · {method} {adjusted:.3g}"
    return text


def claim_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per verdict for the claims table: claim, source, paper value, ours, verdict, reason, p-values."""
    return [{
        "id": v.get("claim_id", MISSING),
        "statement": v.get("statement", ""),
        "source": v.get("source", MISSING),
        "paper": v.get("paper", MISSING),
        "ours": _relation_parts(str(v.get("ours", MISSING))),
        "status": v.get("status", "inconclusive"),
        "css": status_class(v.get("status", "inconclusive")),
        "reason": v.get("reason", ""),
        "transferred": bool(v.get("transferred", False)),
        "underpowered": bool(v.get("underpowered", False)),
        "degenerate": bool(v.get("degenerate")),
        "p": _p_text(v),
    } for v in record.get("verdicts", [])]


def _relation_parts(text: str) -> list[str]:
    """``"a ± s (n=3) > b ± t (n=3)"`` -> ``["a ± s (n=3)", " > ", "b ± t (n=3)"]``, so a line breaks only at the operator."""
    return [part for part in RELATION_SPLIT.split(text) if part]


def metric_table(record: dict[str, Any]) -> dict[str, Any]:
    """Per-metric rows, per-model columns of ``mean ± std`` over seeds, models in record order.

    Returns ``{"models": [{"name", "description", "params"}], "rows": [{"metric", "cells"}], "seeds": n}``;
    a cell is ``{"text", "best"}`` where `best` marks the best mean of a row whose direction is known
    (AUC/accuracy higher, loss/NE lower). `seeds` is the common seed count (None when models differ).
    """
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in record.get("runs", []):
        for metric, value in (run.get("metrics") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values[run.get("model", MISSING)][metric].append(float(value))
    declared = record.get("models") or {}
    names = [m for m in declared if m in values] + [m for m in values if m not in declared]
    metrics = sorted({m for per_model in values.values() for m in per_model}, key=_metric_order)
    counts = {len(v) for per_model in values.values() for v in per_model.values()}
    seeds = counts.pop() if len(counts) == 1 else None
    rows = []
    for metric in metrics:
        summaries = [Summary.of(values[m][metric]) if values[m].get(metric) else None for m in names]
        best = _best(metric, [s.mean if s else None for s in summaries])
        rows.append({"metric": metric, "cells": [
            {"text": _summary_text(s, seeds), "best": i == best} for i, s in enumerate(summaries)]})
    models = [{"name": m, "description": (declared.get(m) or {}).get("description", ""),
               "params": _count_text((declared.get(m) or {}).get("params"))} for m in names]
    return {"models": models, "rows": rows, "seeds": seeds}


def _summary_text(summary: Summary | None, seeds: int | None) -> str:
    """``mean ± std``, with ``(n=…)`` only when the seed count differs between cells."""
    if summary is None:
        return MISSING
    text = f"{summary.mean:.4f}" if summary.n < 2 else f"{summary.mean:.4f} ± {summary.std:.4f}"
    return text if seeds is not None else f"{text} (n={summary.n})"


def _best(metric: str, means: list[float | None]) -> int | None:
    """Index of the best mean when the metric's direction is known and more than one model has it."""
    words = set(metric.lower().split("_"))
    higher = bool(words & HIGHER_IS_BETTER)
    lower = bool(words & LOWER_IS_BETTER)
    present = [(m, i) for i, m in enumerate(means) if m is not None]
    if higher == lower or len(present) < 2:
        return None
    return (max(present) if higher else min(present))[1]


def _metric_order(name: str) -> tuple[int, str]:
    """Test metrics first, then validation, then the rest, each alphabetically."""
    rank = 0 if name.startswith("test_") else 1 if name.startswith("val_") else 2
    return rank, name


def _count_text(value: Any) -> str:
    """A parameter count as ``1.23 M`` / ``45.6 k``; text passes through."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return MISSING if value in (None, "") else str(value)
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:g}"


def examples_per_s(record: dict[str, Any]) -> float | None:
    """The run's training throughput (``throughput.examples_per_s`` or ``.examples_per_s_mean``)."""
    throughput = record.get("throughput") or {}
    value = throughput.get("examples_per_s", throughput.get("examples_per_s_mean"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def run_summary(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Label/value pairs that identify a run: id, profile, times, seeds, device, hash, commit."""
    env = record.get("environment") or {}
    git = env.get("git") or {}
    config = record.get("config") or {}
    commit = git.get("commit") or MISSING
    if git.get("dirty"):
        commit += " (uncommitted changes)"
    throughput = examples_per_s(record)
    return [
        ("Run", str(record.get("run_id", MISSING))),
        ("Profile", str(record.get("profile", MISSING))),
        ("Status", str(record.get("status", MISSING))),
        ("Started", when(record.get("started_at"))),
        ("Finished", when(record.get("finished_at"))),
        ("Wall time", duration_text(record.get("wall_time_s"))),
        ("Seeds", ", ".join(str(s) for s in config.get("seeds", [])) or MISSING),
        ("Device", str(config.get("device", MISSING))),
        ("Throughput", f"{throughput:,.0f} examples/s" if throughput is not None else MISSING),
        ("Config hash", str(record.get("config_hash", MISSING))),
        ("Git commit", commit),
    ]


def when(stamp: Any) -> str:
    """An ISO timestamp as ``2025-01-02 12:00 UTC`` (other text passes through unchanged)."""
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return MISSING if stamp in (None, "") else str(stamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def duration_text(seconds: Any) -> str:
    """Seconds as ``42.0 s``, ``3 min 05 s`` or ``2 h 07 min``."""
    if not isinstance(seconds, (int, float)):
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def environment_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The machine and the package versions that produced the numbers."""
    env = record.get("environment") or {}
    rows = [
        ("Platform", str(env.get("platform", MISSING))),
        ("CPU", f"{env.get('cpu', MISSING)} ({env.get('cpu_count', '?')} cores, "
                f"{env.get('torch_threads', '?')} torch threads)"),
        ("GPUs", ", ".join(env.get("gpus") or []) or "none"),
        ("Host", str(env.get("hostname", MISSING))),
    ]
    rows += [(name, str(version)) for name, version in (env.get("packages") or {}).items()]
    return rows


def manifest_view(record: dict[str, Any]) -> dict[str, Any]:
    """The dataset manifest split into a file table and the remaining fields as text.

    ``files`` (a list of dicts) becomes a table whose columns are the union of their keys; every
    other field becomes a label/value pair (nested values shown as compact JSON).
    """
    dataset = record.get("dataset") or {}
    outer = {k: v for k, v in dataset.items() if k != "manifest"} if "manifest" in dataset else {}
    manifest = dataset.get("manifest", dataset)
    if not isinstance(manifest, dict):
        manifest = {"manifest": manifest}
    files = [f for f in manifest.get("files", []) if isinstance(f, dict)]
    columns: list[str] = []
    for entry in files:
        columns += [k for k in entry if k not in columns]
    fields = [(key, _text(value)) for key, value in {**outer, **manifest}.items() if key != "files"]
    return {"columns": columns, "files": [[_text(f.get(c, "")) for c in columns] for f in files], "fields": fields}


def _text(value: Any) -> str:
    """Scalars as text, containers as compact sorted JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def config_text(record: dict[str, Any]) -> str:
    """The resolved config, pretty-printed JSON, for a collapsible block."""
    return json.dumps(record.get("config") or {}, indent=2, sort_keys=True, default=str)
