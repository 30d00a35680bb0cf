"""A paper's figures drawn from its run record: the parts every ``papers/<id>/figures.ipynb`` shares.

A figures notebook reads one finished run's ``record.json`` (it never retrains) and redraws the
figure or table of the paper that the claims cite, with the paper's number beside ours and the
spread over seeds. What every notebook needs is here:

* :func:`open_record` reads the record, makes the figures folder and sets one plotting style;
  :func:`save` writes a figure as PNG and SVG, byte-identical on every rerun;
* :func:`runs_frame` / :func:`curves_frame`: the per-seed metrics and per-evaluation curves as tidy
  DataFrames, :func:`with_name_parts` the model grid parsed from the model names; :func:`claims_frame` / :func:`paper_values`: the claims with their verdicts, and the
  paper's numbers they carry (so no number is typed twice: ``paper.toml`` is the only source);
* :func:`seed_band_grid` (ours per seed, mean ± std, the paper's value ± tolerance beside it),
  :func:`tradeoff_grid` (quality against a size, per family of models), :func:`curves_grid`
  (training curves with a ±1 std band), :func:`claims_figure` (one panel per claim) and
  :func:`power_law_figure` (a scaling-law sweep with its fit, bootstrap band and held-out point).

Only the keys used here are read, and optional ones (``curve``, ``claims``, ``verdicts``,
``models``) may be missing: a record may be a smoke run, or carry fields added later.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter

from harness.errors import UserError
from harness.scaling import BootstrapFit, Extrapolation, SweepTable

FIGURES_FOLDER = "figures"
SVG_SALT = "recrepro"  # fixed SVG element ids, so a rerun writes the same bytes
PAPER_COLOR = "#7b3294"
STATUS_COLORS = {"reproduced": "#1a9641", "not reproduced": "#d7191c", "inconclusive": "#878787"}
PaperBands = Mapping[Any, tuple[float, float]]


# ---------------------------------------------------------------- record, style, saving

def open_record(record_path: str | Path, output_dir: str | Path | None = None) -> tuple[dict[str, Any], Path]:
    """Read the run record at `record_path`; make the figures folder (default: ``figures/`` beside it).

    Also sets the plotting style every notebook shares. Returns ``(record, folder)``.
    """
    path = Path(record_path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: no run record here; pass the record.json of a finished run as record_path") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not a valid run record ({exc}); rerun the experiment to rewrite it") from exc
    if not record.get("runs"):
        raise UserError(f"{path}: the record lists no 'runs' (no model was trained); nothing to draw")
    out = Path(output_dir) if output_dir else path.parent / FIGURES_FOLDER
    out.mkdir(parents=True, exist_ok=True)
    use_style()
    return record, out


def use_style() -> None:
    """The one look of the suite's figures (seaborn whitegrid) and a fixed SVG id salt."""
    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({"svg.hashsalt": SVG_SALT, "figure.dpi": 110})


def save(fig: Figure | None, out: Path, name: str) -> list[Path]:
    """Write `fig` as ``<name>.png`` and ``<name>.svg`` into `out`; the same figure gives the same bytes.

    `fig` None (a drawing function found nothing of its figure in the record) writes nothing, so
    one figure missing from a record does not cost the others.
    """
    if fig is None:
        print(f"{name}: not drawn (nothing of it in this record)")
        return []
    paths = []
    for ext, options in (("png", {"dpi": 150}), ("svg", {"metadata": {"Date": None}})):
        path = Path(out) / f"{name}.{ext}"
        fig.savefig(path, bbox_inches="tight", **options)
        paths.append(path)
    return paths


def is_smoke(record: Mapping[str, Any]) -> bool:
    """Whether the record is a smoke run (synthetic data: its numbers test the pipeline, not the paper)."""
    return bool(record.get("smoke")) or record.get("profile") == "smoke"


def run_title(record: Mapping[str, Any], what: str) -> str:
    """A figure title: `what`, the paper id and run id, and a warning on smoke runs."""
    paper = (record.get("paper") or {}).get("id", "?")
    title = f"{what} ({paper}, run {record.get('run_id', '?')})"
    return title + ("\nSMOKE run on synthetic data: the numbers test the pipeline, not the paper" if is_smoke(record) else "")


# ---------------------------------------------------------------- tidy tables

def model_order(record: Mapping[str, Any]) -> list[str]:
    """The trained models in the record's order (its ``models`` table first, then the runs)."""
    trained = list(dict.fromkeys(r["model"] for r in record.get("runs", [])))
    return [m for m in record.get("models") or {} if m in trained] + [m for m in trained if m not in (record.get("models") or {})]


def runs_frame(record: Mapping[str, Any], metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (model, seed, metric) with its numeric ``value``; only `metrics` if given."""
    wanted = set(metrics) if metrics is not None else None
    rows = [{"model": r["model"], "seed": r.get("seed"), "metric": name, "value": float(value)}
            for r in record.get("runs", []) for name, value in (r.get("metrics") or {}).items()
            if (wanted is None or name in wanted) and _is_number(value)]
    return pd.DataFrame(rows, columns=["model", "seed", "metric", "value"])


def wide_runs(record: Mapping[str, Any], metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (model, seed), one column per metric (NaN where a run lacks it)."""
    long = runs_frame(record, metrics)
    if long.empty:
        return pd.DataFrame(columns=["model", "seed"])
    return long.pivot_table(index=["model", "seed"], columns="metric", values="value", sort=False).reset_index()


def with_name_parts(frame: pd.DataFrame, pattern: str) -> pd.DataFrame:
    """`frame` with one column per named group of the regex `pattern` matched against ``model``.

    Papers encode their grid in the model names (``dcn_qr_mult_4``, ``ml1m_fa_sgd``); names that do
    not match get NaN.
    """
    return frame.join(frame["model"].astype(str).str.extract(pattern))


def indexed_metrics(record: Mapping[str, Any], pattern: str, models: str = ".*") -> pd.DataFrame:
    """Metrics that encode a sweep in their names, one row per (model, seed, quantity, x).

    `pattern` is a regex with the named groups ``quantity`` and ``x`` matched against the whole
    metric name (``(?P<quantity>eps|efficiency)_n(?P<x>\\d+)`` reads ``eps_n16`` as quantity
    ``eps`` at x = 16, a simulated worker count); `models` a regex the model names must match.
    Adds ``point`` = ``<model>@<x>`` so :func:`tradeoff_grid` joins one model's sweep in a line.
    """
    long = runs_frame(record)
    long = long[long["model"].astype(str).str.fullmatch(models)]
    parts = long["metric"].str.extract(f"^{pattern}$")
    if "quantity" not in parts or "x" not in parts:
        raise ValueError(f"indexed_metrics: the pattern {pattern!r} needs the named groups quantity and x")
    frame = long.join(parts).dropna(subset=["quantity", "x"])
    frame = frame.assign(x=pd.to_numeric(frame["x"]))
    return frame.assign(point=frame["model"].astype(str) + "@" + frame["x"].astype(str))


def curves_frame(record: Mapping[str, Any]) -> pd.DataFrame:
    """One row per evaluation point of each run's training curve: model, seed and its columns."""
    return pd.DataFrame([{"model": r["model"], "seed": r.get("seed"), **point}
                         for r in record.get("runs", []) for point in r.get("curve") or []])


def split_quantity(quantity: str | None) -> tuple[str | None, str | None]:
    """``"model:metric"`` as ``(model, metric)``; ``(None, None)`` for no quantity."""
    if not quantity:
        return None, None
    model, _, metric = str(quantity).partition(":")
    return model, metric


def claims_frame(record: Mapping[str, Any]) -> pd.DataFrame:
    """The record's claims, one row each, with their verdict (status, the paper's side, ours, reason)."""
    verdicts = {v.get("claim_id"): v for v in record.get("verdicts") or []}
    rows = []
    for claim in record.get("claims") or []:
        verdict = verdicts.get(claim.get("id"), {})
        lhs_model, lhs_metric = split_quantity(claim.get("lhs"))
        rhs_model, rhs_metric = split_quantity(claim.get("rhs"))
        rows.append({"id": claim.get("id"), "kind": claim.get("kind"), "source": claim.get("source", ""),
                     "lhs_model": lhs_model, "lhs_metric": lhs_metric, "op": claim.get("op"),
                     "rhs_model": rhs_model, "rhs_metric": rhs_metric,
                     "paper_value": claim.get("paper_value"), "tolerance": claim.get("tolerance") or 0.0,
                     "paper_lhs": claim.get("paper_lhs"), "paper_rhs": claim.get("paper_rhs"),
                     "transferred": bool(claim.get("transferred")),
                     "status": verdict.get("status", "not evaluated"), "paper": verdict.get("paper", ""),
                     "ours": verdict.get("ours", ""), "reason": verdict.get("reason", "")})
    return pd.DataFrame(rows)


def verdict_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """The claims as the paper's table beside ours: id, source, paper, ours, verdict (for display)."""
    claims = claims_frame(record)
    if claims.empty:
        return claims
    return claims[["id", "source", "paper", "ours", "status"]].set_index("id")


def paper_values(record: Mapping[str, Any]) -> pd.DataFrame:
    """The paper's numbers the claims carry: model, metric, value, tolerance, claim id and status.

    A ``value`` claim gives its `paper_value` ± `tolerance`; a relation claim that states the
    paper's two numbers (`paper_lhs`, `paper_rhs`) gives each with tolerance 0.
    """
    rows = []
    for c in claims_frame(record).to_dict("records"):
        sides = [(c["lhs_model"], c["lhs_metric"], c["paper_value"], c["tolerance"])] if c["kind"] == "value" else [
            (c["lhs_model"], c["lhs_metric"], c["paper_lhs"], 0.0), (c["rhs_model"], c["rhs_metric"], c["paper_rhs"], 0.0)]
        rows += [{"claim_id": c["id"], "model": model, "metric": metric, "value": float(value),
                  "tolerance": float(tolerance), "status": c["status"], "transferred": c["transferred"]}
                 for model, metric, value, tolerance in sides if model and _is_number(value)]
    return pd.DataFrame(rows, columns=["claim_id", "model", "metric", "value", "tolerance", "status", "transferred"])


# ---------------------------------------------------------------- ours over seeds beside the paper

def seed_band(ax: Axes, data: pd.DataFrame, x: str, y: str = "value", order: Sequence[Any] | None = None,
              paper: PaperBands | None = None, palette: Mapping[Any, Any] | None = None) -> Axes:
    """Per-seed dots and the mean ± std (black diamond) of `y` for each `x`; the paper's value beside.

    `paper` maps an `x` category to the paper's ``(value, tolerance)``: a purple line at the value
    with a shaded ± tolerance band across that category's slot. A category may be in `order` and
    `paper` without data (the paper's column next to ours). The dots of a category are spread
    evenly in seed order (no random jitter, so a redrawn figure is identical).
    """
    data = data.dropna(subset=[y])
    order = list(order) if order is not None else list(dict.fromkeys(data[x]))
    palette = palette or dict(zip(order, sns.color_palette("colorblind", len(order))))
    for i, category in enumerate(order):
        rows = data[data[x] == category]
        values = (rows.sort_values("seed") if "seed" in rows else rows)[y].to_numpy(dtype=float)
        if len(values):
            spread = [0.0] if len(values) == 1 else [0.24 * (k / (len(values) - 1) - 0.5) for k in range(len(values))]
            ax.scatter([i + d for d in spread], values, s=30, color=palette.get(category, "gray"), alpha=0.6, lw=0, zorder=2)
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            ax.errorbar(i, float(values.mean()), yerr=std, fmt="D", color="black", ms=5, capsize=4, elinewidth=1.2, zorder=4)
        if paper and category in paper:
            value, tolerance = paper[category]
            _paper_mark(ax, i, value, tolerance)
    ax.set_xticks(range(len(order)), [str(o) for o in order], rotation=30, ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.grid(False, axis="x")
    ax.set_xlabel("")
    return ax


def seed_band_grid(data: pd.DataFrame, x: str, y: str = "value", col: str | None = None, row: str | None = None,
                   order: Sequence[Any] | None = None, col_order: Sequence[Any] | None = None,
                   row_order: Sequence[Any] | None = None, paper: pd.DataFrame | None = None,
                   labels: Mapping[Any, str] | None = None, title: str = "",
                   panel_size: tuple[float, float] = (4.2, 3.8)) -> Figure | None:
    """:func:`seed_band` in a grid: one panel per (`row`, `col`) value of `data`.

    `paper` holds the paper's numbers as rows with the same `x` / `col` / `row` columns as `data`
    plus ``value`` and ``tolerance`` (e.g. :func:`paper_values` with the model name mapped).
    `labels` renames panel titles (the `col` values) and y labels (the `row` values, else `y`).
    None when `data` is empty (the record measured none of it).
    """
    if data.empty or x not in data or y not in data:
        _not_drawn(f"no run measured {y} by {x}")
        return None
    labels = labels or {}
    rows = list(row_order) if row_order is not None else (list(dict.fromkeys(data[row])) if row else [None])
    cols = list(col_order) if col_order is not None else (list(dict.fromkeys(data[col])) if col else [None])
    width = max(panel_size[0], 0.45 * data[x].nunique() + 1.4)  # room for every category's label
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(width * len(cols), panel_size[1] * len(rows)),
                             squeeze=False)
    any_paper = False
    for r, row_value in enumerate(rows):
        for c, col_value in enumerate(cols):
            ax = axes[r][c]
            panel = _select(data, row, row_value, col, col_value)
            bands = _bands(_select(paper, row, row_value, col, col_value), x) if paper is not None else {}
            any_paper |= bool(bands)
            panel_order = [o for o in (order if order is not None else dict.fromkeys(panel[x]))
                           if o in set(panel[x]) or o in bands]
            seed_band(ax, panel, x, y, order=panel_order, paper=bands)
            if r == 0 and col:
                ax.set_title(labels.get(col_value, str(col_value)))
            if row:
                ax.set_ylabel(labels.get(row_value, str(row_value)))
            else:
                ax.set_ylabel(labels.get(y, "" if y == "value" else y) if c == 0 else "")
    legend_below(fig, paper=any_paper)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def tradeoff_grid(data: pd.DataFrame, x: str, y: str, hue: str, col: str | None = None,
                  point: str = "model", hue_order: Sequence[Any] | None = None, col_order: Sequence[Any] | None = None,
                  paper_x: pd.DataFrame | None = None, paper_y: pd.DataFrame | None = None,
                  labels: Mapping[Any, str] | None = None, ylabels: Mapping[Any, str] | None = None,
                  xscale: str = "linear", title: str = "", panel_size: tuple[float, float] = (5.0, 4.0)) -> Figure | None:
    """Quality `y` against a size `x`: per `point` (a model) the mean with ± std bars in both, per-seed
    dots faint, the points of one `hue` family joined in order of `x`; one panel per `col` value.

    `data` has one row per run (see :func:`wide_runs`). `paper_x` / `paper_y` hold the paper's
    numbers on either axis (columns ``value``, ``tolerance`` and `col` if given): a shaded band.
    `labels` renames `x`, `y`, `hue` and the `col` values (panel titles); `ylabels` gives a panel
    its own y label (by `col` value) when `y` means a different metric per panel. None when no run
    has both `x` and `y`.
    """
    if data.empty or x not in data or y not in data or data[[x, y]].dropna().empty:
        _not_drawn(f"no run measured both {x} and {y}")
        return None
    data = data.dropna(subset=[x, y])
    labels = labels or {}
    cols = list(col_order) if col_order is not None else (list(dict.fromkeys(data[col])) if col else [None])
    families = list(hue_order) if hue_order is not None else list(dict.fromkeys(data[hue]))
    palette = dict(zip(families, sns.color_palette("colorblind", len(families))))
    fig, axes = plt.subplots(1, len(cols), figsize=(panel_size[0] * len(cols), panel_size[1]), squeeze=False)
    any_paper = False
    for ax, col_value in zip(axes[0], cols):
        panel = _select(data, None, None, col, col_value).dropna(subset=[x, y])
        ax.scatter(panel[x], panel[y], c=[palette.get(h, "gray") for h in panel[hue]], s=14, alpha=0.35, lw=0)
        for family in families:
            means = (panel[panel[hue] == family].groupby(point, sort=False)[[x, y]].agg(["mean", "std"]))
            if means.empty:
                continue
            means = means.sort_values((x, "mean"))
            ax.errorbar(means[(x, "mean")], means[(y, "mean")], xerr=means[(x, "std")].fillna(0),
                        yerr=means[(y, "std")].fillna(0), color=palette[family], marker="o", ms=6, capsize=3,
                        lw=1.4, label=str(family))
        for bands, axis in ((paper_x, "x"), (paper_y, "y")):
            for band in (_select(bands, None, None, col, col_value).to_dict("records") if bands is not None else []):
                any_paper = True
                span = ax.axvspan if axis == "x" else ax.axhspan
                span(band["value"] - band["tolerance"], band["value"] + band["tolerance"], color=PAPER_COLOR,
                     alpha=0.15, lw=0)
                (ax.axvline if axis == "x" else ax.axhline)(band["value"], color=PAPER_COLOR, lw=1.6)
        ax.set_xscale(xscale)
        if xscale in ("log", "symlog"):
            _plain_log_ticks(ax)
        ax.set_xlabel(labels.get(x, x))
        ax.set_ylabel((ylabels or {}).get(col_value) or labels.get(y, y))
        if col:
            ax.set_title(labels.get(col_value, str(col_value)))
        ax.legend(title=labels.get(hue, hue), fontsize=8, title_fontsize=9, frameon=False)
    if any_paper:
        fig.legend(handles=[_paper_handle()], loc="upper center", bbox_to_anchor=(0.5, 0.0), frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def curves_grid(curves: pd.DataFrame, panels: Sequence[str], x: str = "epoch", hue: str = "model",
                hue_order: Sequence[Any] | None = None, paper: Mapping[str, tuple[float, float]] | None = None,
                labels: Mapping[str, str] | None = None, title: str = "",
                panel_size: tuple[float, float] = (4.2, 3.8)) -> Figure | None:
    """Training curves: each of `panels` (curve columns) against `x`, mean over seeds with a ±1 std
    band, one line per `hue`; `paper` maps a panel to the paper's ``(value, tolerance)`` (a band).

    Returns None when the record has none of these curves (e.g. a run without per-epoch evaluation).
    """
    labels = labels or {}
    panels = [p for p in panels if p in curves]
    if curves.empty or x not in curves or not panels:
        _not_drawn(f"the runs have no training curve with {x} and any of {', '.join(panels) or 'the panels'}")
        return None
    order = list(hue_order) if hue_order is not None else list(dict.fromkeys(curves[hue]))
    palette = dict(zip(order, sns.color_palette("colorblind", len(order))))
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_size[0] * len(panels), panel_size[1]), squeeze=False)
    for ax, column in zip(axes[0], panels):
        sns.lineplot(data=curves, x=x, y=column, hue=hue, hue_order=order, palette=palette, errorbar="sd",
                     marker="o", markersize=4, ax=ax, legend=ax is axes[0][-1])
        if paper and column in paper:
            value, tolerance = paper[column]
            ax.axhspan(value - tolerance, value + tolerance, color=PAPER_COLOR, alpha=0.15, lw=0)
            ax.axhline(value, color=PAPER_COLOR, lw=1.6, label="paper ± tolerance")
        ax.set_title(labels.get(column, column))
        ax.set_ylabel("")
        ax.set_xlabel(labels.get(x, x))
        ax.xaxis.get_major_locator().set_params(integer=True)
    sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False, title=labels.get(hue, hue))
    if paper and any(p in paper for p in panels):
        fig.legend(handles=[_paper_handle()], loc="upper center", bbox_to_anchor=(0.5, 0.0), frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def claims_figure(record: Mapping[str, Any], ncols: int = 4, panel_size: tuple[float, float] = (3.4, 3.3)) -> Figure | None:
    """One panel per claim: our per-seed values of each side, the paper's side, the verdict.

    A value claim shows ours beside the paper's value ± tolerance; a relation shows both models
    (and the paper's two numbers if the claim has them), with the threshold the left side must
    pass when the claim has a tolerance (``>=``: right mean - tolerance; ``<=``: + tolerance).
    The title carries the claim id and its verdict, in the verdict's colour. None without claims.
    """
    claims = claims_frame(record)
    if claims.empty:
        _not_drawn("the record has no claims")
        return None
    runs = runs_frame(record)
    ncols = min(ncols, len(claims))
    nrows = math.ceil(len(claims) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False)
    for ax, claim in zip(axes.flat, claims.to_dict("records")):
        _claim_panel(ax, claim, runs)
    for ax in list(axes.flat)[len(claims):]:
        ax.set_visible(False)
    thresholds = claims["op"].isin([">=", "<="]) & (claims["tolerance"] > 0)
    legend_below(fig, paper=True, threshold=bool(thresholds.any()))
    fig.suptitle(run_title(record, "Claims: ours per seed beside the paper"), fontsize=11)
    fig.tight_layout()
    return fig


def legend_below(fig: Figure, paper: bool = True, threshold: bool = False) -> None:
    """The figure legend of :func:`seed_band` panels: seeds, mean ± std, the paper (and a threshold)."""
    handles: list[Artist] = [Line2D([], [], marker="o", color="gray", alpha=0.55, linestyle="none", label="one seed"),
               Line2D([], [], marker="D", color="black", markersize=5, label="mean ± std over seeds")]
    if paper:
        handles.append(_paper_handle())
    if threshold:
        handles.append(Line2D([], [], color=PAPER_COLOR, linestyle="--", label="claim's threshold for the left model"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), frameon=False)


def power_law_figure(table: SweepTable, fit: BootstrapFit, xlabel: str, title: str,
                     held_out: Extrapolation | None = None, ylabel: str = "test NE") -> Figure:
    """One sweep of a scaling-law study (Ardalani et al. 2022): its points per seed, their mean ± std, the
    power law plus constant fitted to all points with its bootstrap band, and, given `held_out`, the
    fit without the largest point extended to it with its prediction interval (log x axis)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    grid = np.geomspace(float(table.x.min()) / 1.2, float(table.x.max()) * 1.2, 200)
    low, high = fit.band(grid)
    ax.fill_between(grid, low, high, color="tab:blue", alpha=0.18, lw=0,
                    label=f"{fit.level:.0%} bootstrap band (all points)")
    ax.plot(grid, fit.law(grid), color="tab:blue", lw=1.8,
            label=f"fit: {fit.law.a:.3g}·x^(−{fit.law.b:.3f}) + {fit.law.c:.3f}")
    for row in table.y:
        ax.plot(table.x, row, "o", color="gray", alpha=0.5, ms=4)
    ax.errorbar(table.x, table.y.mean(axis=0), yerr=table.y.std(axis=0, ddof=1) if len(table.y) > 1 else None,
                fmt="D", color="black", ms=5, capsize=3, zorder=4, label="mean ± std over seeds")
    if held_out is not None:
        part = grid[grid <= held_out.x_held_out * 1.2]
        ax.plot(part, held_out.fit.law(part), color="tab:orange", lw=1.4, ls="--",
                label="fit without the largest point")
        ax.errorbar([held_out.x_held_out], [held_out.predicted],
                    yerr=[[held_out.predicted - held_out.interval.low], [held_out.interval.high - held_out.predicted]],
                    fmt="s", color="tab:orange", ms=6, capsize=4, zorder=5,
                    label=f"its prediction, {held_out.interval.level:.0%} interval")
    ax.set_xscale("log")
    _plain_log_ticks(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- helpers

def _not_drawn(reason: str) -> None:
    """Say why a figure is not drawn (the executed notebook shows it)."""
    print(f"not drawn: {reason}")


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _select(frame: pd.DataFrame | None, row: str | None, row_value: Any, col: str | None, col_value: Any) -> pd.DataFrame:
    """The rows of `frame` in one grid panel (all rows when the grid has no such facet)."""
    if frame is None:
        return pd.DataFrame()
    mask = pd.Series(True, index=frame.index)
    for facet, value in ((row, row_value), (col, col_value)):
        if facet and facet in frame:
            mask &= frame[facet] == value
    return frame[mask]


def _bands(paper: pd.DataFrame, x: str) -> dict[Any, tuple[float, float]]:
    """``{x category: (value, tolerance)}`` from rows of the paper's numbers."""
    if paper.empty or x not in paper:
        return {}
    return {row[x]: (float(row["value"]), float(row.get("tolerance") or 0.0)) for row in paper.to_dict("records")}


def _plain_log_ticks(ax: Axes) -> None:
    """Label a log x axis with plain numbers (0.25, not 2.5e-01); over less than ~1.5 decades also
    the minor ticks at 2 and 5 times a power of ten, so the axis is never left with one label."""
    low, high = ax.get_xlim()
    narrow = low > 0 and high / low < 30

    def minor(value: float, _: int) -> str:
        if not narrow or value <= 0:
            return ""
        return f"{value:g}" if round(value / 10 ** math.floor(math.log10(value)), 6) in (2.0, 5.0) else ""

    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(minor))


def _paper_mark(ax: Axes, position: float, value: float, tolerance: float, half_width: float = 0.38) -> None:
    """The paper's value as a purple line across one category slot, with its ± tolerance shaded."""
    if tolerance > 0:
        ax.add_patch(Rectangle((position - half_width, value - tolerance), 2 * half_width, 2 * tolerance,
                               color=PAPER_COLOR, alpha=0.18, lw=0, zorder=1))
    ax.hlines(value, position - half_width, position + half_width, color=PAPER_COLOR, lw=2.2, zorder=3)


def _paper_handle() -> Patch:
    """Legend entry of the paper's value ± tolerance."""
    return Patch(facecolor=PAPER_COLOR, alpha=0.35, edgecolor=PAPER_COLOR, label="paper's value ± tolerance")


def _claim_panel(ax: Axes, claim: dict[str, Any], runs: pd.DataFrame) -> None:
    """Draw one claim of :func:`claims_figure` into `ax`."""
    sides = [(claim["lhs_model"], claim["lhs_metric"])]
    if claim["kind"] == "relation" and claim["rhs_model"]:
        sides.append((claim["rhs_model"], claim["rhs_metric"]))
    data = pd.concat([runs[(runs["model"] == model) & (runs["metric"] == metric)] for model, metric in sides])
    order = [model for model, _ in sides]
    paper: dict[Any, tuple[float, float]] = {}
    if claim["kind"] == "value" and _is_number(claim["paper_value"]):
        order.append("paper")
        paper["paper"] = (float(claim["paper_value"]), float(claim["tolerance"]))
        relation = f"paper: {claim['paper_value']:g} ± {claim['tolerance']:g}"
    else:
        for (model, _), number in zip(sides, (claim["paper_lhs"], claim["paper_rhs"])):
            if _is_number(number):
                paper[model] = (float(number), 0.0)
        tolerance = f" (tolerance {claim['tolerance']:g})" if claim["tolerance"] else ""
        numbers = _is_number(claim["paper_lhs"]) and _is_number(claim["paper_rhs"])
        sides_text = (f"{claim['paper_lhs']:g} {claim['op']} {claim['paper_rhs']:g}" if numbers
                      else f"left {claim['op']} right")
        relation = f"paper: {sides_text}{tolerance}"
    seed_band(ax, data, "model", "value", order=order, paper=paper)
    if claim["kind"] == "relation" and claim["tolerance"] and claim["op"] in (">=", "<=") and len(sides) == 2:
        rhs = data[data["model"] == sides[1][0]]["value"]
        if not rhs.empty:
            sign = -1 if claim["op"] == ">=" else 1
            ax.hlines(rhs.mean() + sign * claim["tolerance"], -0.45, 0.45, color=PAPER_COLOR, linestyle="--", lw=1.6)
    if data.empty:
        ax.text(0, 0.5, "not measured\nby this run", ha="center", va="center", transform=ax.get_xaxis_transform(),
                color="gray", fontsize=9)
        ax.set_yticks([])
    color = STATUS_COLORS.get(claim["status"], "black")
    status = claim["status"] + (" (transferred)" if claim["transferred"] else "")
    ax.set_title(f"{textwrap.shorten(str(claim['id']), 34)}\n{status}\n{relation}", fontsize=9, color=color)
    ax.set_ylabel(claim["lhs_metric"] or "", fontsize=9)
    ax.tick_params(labelsize=8)
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(1.5)
