"""Build the static HTML report from run records: ``repro report``.

The site joins, in one place, every catalog paper's status, each run's verdicts, figures and
metadata, and the asv performance history (see issue 5 point 5). It reads only run records
(``results/<paper>/<run-id>/record.json``) and the catalog list the CLI passes in.

Layout of the output folder::

    index.html                          every catalog paper, its status and its latest real run's verdicts
    performance.html                    throughput from the records + asv's published site
    asv/                                copy of asv's html (when it has been published)
    papers/<paper>/index.html           the paper's latest real run (a smoke run only when it has no other)
    papers/<paper>/<run-id>/index.html  every run, with its figures and notebook beside it
    style.css

The site is built in a temporary folder beside `out_dir` and swapped in at the end, so a reader
never sees a half-built report and a failed build leaves the previous site as it was. Staging
folders carry the builder's process id; one whose process is gone (a build killed with ``kill -9``)
is removed by the next build.

Only records that pass the schema are shown (an invalid one is skipped and reported through
`on_skip`), and a run's figures and notebook are copied only when they are regular files inside
the run folder, reached without a symbolic link (:func:`repro.records.inside_run`), so a link
planted in a run folder cannot publish a file from elsewhere on the machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator
from urllib.parse import quote

import jinja2

from harness.errors import UserError
from repro.records import inside_run, scan_records
from repro.report import views

TEMPLATES = Path(__file__).with_name("templates")
SITE_MARKER = ".repro-site"
DEFAULT_ASV_HTML = Path(__file__).resolve().parents[2] / "ci" / "asv-html"
IMAGE_SUFFIXES = (".png", ".svg")


def build_site(results_dir: Path, out_dir: Path, registry_papers: list[dict[str, Any]],
               asv_html: Path | None = None, on_skip: Callable[[Path, str], None] | None = None) -> Path:
    """Render the report for every record under `results_dir` into `out_dir`; return its index.html.

    `registry_papers` are the catalog's papers as plain dicts (``id``, ``title``, ``year``, ``arxiv``,
    ``family``, ``status`` = implemented/planned), in catalog order. `asv_html` is asv's published
    html folder (default ``ci/asv-html``); when it holds an ``index.html`` it is copied into the site.
    `on_skip(run_dir, reason)` is called for every record left out because it is invalid.
    """
    scan = scan_records(Path(results_dir))
    for run_dir, reason in scan.skipped:
        if on_skip is not None:
            on_skip(run_dir, reason)
    records = scan.records
    by_paper: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_paper.setdefault(_paper_id(record), []).append(record)
    entries = _catalog_entries(registry_papers, by_paper)
    asv_dir = Path(asv_html) if asv_html is not None else DEFAULT_ASV_HTML
    with _staged_site(Path(out_dir)) as stage:
        site = _Site(stage)
        shutil.copyfile(TEMPLATES / "style.css", stage / "style.css")
        for entry in entries:
            if entry["id"] in by_paper:
                site.paper_pages(entry, by_paper[entry["id"]])
        site.render("index.html", "index.html.j2", depth=0, totals=_totals(entries, by_paper),
                    papers=[_index_row(e, by_paper.get(e["id"], [])) for e in entries])
        has_asv = (asv_dir / "index.html").is_file()
        if has_asv:
            shutil.copytree(asv_dir, stage / "asv", ignore=_symbolic_links)
        site.render("performance.html", "performance.html.j2", depth=0, has_asv=has_asv,
                    asv_source="ci/asv-html" if asv_html is None else str(asv_html),
                    throughput=[_throughput_row(r) for r in reversed(records)])
    return Path(out_dir) / "index.html"


def _catalog_entries(registry_papers: list[dict[str, Any]],
                     by_paper: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The catalog's papers, then any paper that has runs but is missing from the catalog."""
    known = {p["id"] for p in registry_papers}
    return list(registry_papers) + [
        {"id": pid, "title": (runs[-1].get("paper") or {}).get("title", pid), "status": "not in catalog"}
        for pid, runs in by_paper.items() if pid not in known]


@dataclass
class _Site:
    """Renders pages and copies run artefacts into the staging folder of one build."""

    root: Path

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    def render(self, rel: str, template: str, depth: int, **context: Any) -> None:
        """Render `template` to ``root/rel``; `depth` is how many folders deep the page sits."""
        html = self.env.get_template(template).render(root="../" * depth, **context)
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")  # plain write: the whole staging folder is swapped in atomically

    def paper_pages(self, entry: dict[str, Any], runs: list[dict[str, Any]]) -> None:
        """The paper's page (its latest run) and one page per run, oldest first in `runs`."""
        pid = entry["id"]
        shown = views.latest_real(runs)  # the paper's page shows its latest real run, never a newer smoke run
        listing = [_run_link(pid, r, latest=(r is shown)) for r in runs][::-1]
        for i, record in enumerate(runs):
            latest = record is shown
            run_name = Path(record["_dir"]).name
            artefacts = self._copy_artefacts(pid, record)
            context = _run_context(entry, record, listing, artefacts, latest)
            context["older"] = any(r is shown for r in runs[i + 1:])
            self.render(f"papers/{pid}/{run_name}/index.html", "run.html.j2", depth=3, **context)
            if latest:
                self.render(f"papers/{pid}/index.html", "run.html.j2", depth=2, **context)

    def _copy_artefacts(self, pid: str, record: dict[str, Any]) -> dict[str, Any]:
        """Copy the run's figures and executed notebook into the site; return their site URLs."""
        run_dir = Path(record["_dir"])
        target = self.root / "papers" / pid / run_dir.name
        copied: dict[str, str] = {}
        missing: list[str] = []
        wanted = list(record.get("figures") or []) + ([record["notebook"]] if record.get("notebook") else [])
        for rel in wanted:
            source = inside_run(run_dir, str(rel))
            if source is None:
                missing.append(str(rel))
                continue
            dest = target / source.relative_to(run_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
            copied[str(rel)] = _url("papers", pid, run_dir.name, *source.relative_to(run_dir).parts)
        figures = _group_figures([(rel, url) for rel, url in copied.items() if rel != record.get("notebook")])
        return {"figures": figures, "notebook": copied.get(str(record.get("notebook"))), "missing": missing}


def _paper_id(record: dict[str, Any]) -> str:
    """The record's paper id: the name of its ``results/<paper>/`` folder (a safe path segment)."""
    return Path(record["_dir"]).parent.name


def _symbolic_links(folder: str, names: list[str]) -> set[str]:
    """For ``shutil.copytree``: leave out every symbolic link (a site never publishes a link's target)."""
    return {name for name in names if os.path.islink(os.path.join(folder, name))}


def _url(*segments: str) -> str:
    """A site-relative URL from path segments, each percent-encoded."""
    return "/".join(quote(s, safe="") for s in segments)


def _group_figures(items: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Pair the PNG and SVG of each figure: ``[{"title", "image", "formats": [(ext, url)]}]``."""
    groups: dict[str, dict[str, str]] = {}
    for rel, url in sorted(items):
        path = PurePosixPath(rel)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            groups.setdefault(str(path.with_suffix("")), {})[path.suffix.lower().lstrip(".")] = url
    return [{"title": PurePosixPath(stem).name,
             "image": formats.get("png") or formats.get("svg"),
             "formats": sorted(formats.items())} for stem, formats in groups.items()]


def _run_link(pid: str, record: dict[str, Any], latest: bool) -> dict[str, Any]:
    """One line of a paper's run list."""
    return {"run_id": record.get("run_id", Path(record["_dir"]).name), "profile": record.get("profile", views.MISSING),
            "smoke": views.is_smoke(record), "underpowered": views.underpowered_count(record),
            "finished": views.when(record.get("finished_at")), "counts": views.verdict_counts(record),
            "config_hash": record.get("config_hash", views.MISSING), "latest": latest,
            "url": _url("papers", pid, Path(record["_dir"]).name, "index.html")}


def _run_context(entry: dict[str, Any], record: dict[str, Any], listing: list[dict[str, Any]],
                 artefacts: dict[str, Any], latest: bool) -> dict[str, Any]:
    """Everything run.html.j2 shows for one run."""
    paper = {**entry, **(record.get("paper") or {})}
    return {
        "paper": paper, "latest": latest, "run_id": record.get("run_id", Path(record["_dir"]).name),
        "profile": record.get("profile", views.MISSING), "finished": views.when(record.get("finished_at")),
        "latest_url": _url("papers", entry["id"], "index.html"),
        "counts": views.verdict_counts(record), "claims": views.claim_rows(record),
        "glance": views.at_a_glance(record), "protocol": views.protocol_rows(record), "facts": views.fact_rows(record),
        "notes": [str(n) for n in record.get("protocol_notes") or []],
        "models": views.metric_table(record), "summary": views.run_summary(record),
        "environment": views.environment_rows(record), "manifest": views.manifest_view(record),
        "config": views.config_text(record), "runs": listing, **artefacts,
    }


def _index_row(entry: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One line of the index: a catalog paper with its latest run, if any."""
    latest = views.latest_real(runs)
    return {**entry, "runs": len(runs), "smoke_runs": sum(views.is_smoke(r) for r in runs),
            "latest": _run_link(entry["id"], latest, True) if latest else None,
            "url": _url("papers", entry["id"], "index.html") if latest else None}


def _totals(entries: list[dict[str, Any]], by_paper: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Headline numbers of the index: papers, implemented, with runs, and verdicts of latest runs."""
    counts = {"reproduced": 0, "not reproduced": 0, "inconclusive": 0}
    underpowered = 0
    for runs in by_paper.values():
        latest = views.latest_real(runs)
        if latest is None or views.is_smoke(latest):
            continue  # smoke runs test the pipeline, not the paper: kept out of the headline
        underpowered += views.underpowered_count(latest)
        for status, n in views.verdict_counts(latest).items():
            counts[status] = counts.get(status, 0) + n
    return {"papers": len(entries), "implemented": sum(e.get("status") == "implemented" for e in entries),
            "with_runs": len(by_paper), "counts": counts, "underpowered": underpowered}


def _throughput_row(record: dict[str, Any]) -> dict[str, Any]:
    """One line of the performance page's throughput table."""
    env = record.get("environment") or {}
    speed = views.examples_per_s(record)
    return {"paper": _paper_id(record), "run_id": record.get("run_id", views.MISSING),
            "url": _url("papers", _paper_id(record), Path(record["_dir"]).name, "index.html"),
            "profile": record.get("profile", views.MISSING), "finished": views.when(record.get("finished_at")),
            "speed": f"{speed:,.0f}" if speed is not None else views.MISSING,
            "wall": views.duration_text(record.get("wall_time_s")),
            "machine": f"{env.get('cpu', views.MISSING)}" + (f" + {', '.join(env['gpus'])}" if env.get("gpus") else "")}


@contextlib.contextmanager
def _staged_site(out_dir: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success swap it in as `out_dir` (the old site is removed).

    Refuses to replace a non-empty folder that a previous build did not create (no marker file),
    so ``--out`` pointed at the wrong place never deletes anything.
    """
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise UserError(f"--out {out_dir} is a file or a symbolic link, not a folder; pass a new or empty folder")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / SITE_MARKER).is_file():
        raise UserError(f"{out_dir} is not empty and was not built by `repro report` (no {SITE_MARKER} file); "
                        f"pass an empty or new folder with --out, or remove it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_dir)
    stage = out_dir.with_name(f".{out_dir.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")
    stage.mkdir()
    try:
        yield stage
        (stage / SITE_MARKER).write_text("built by `repro report`; this folder is replaced on each build\n")
        os.chmod(stage, 0o755)
        old = out_dir.with_name(f".{out_dir.name}.{os.getpid()}-{secrets.token_hex(3)}.old")
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(stage, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _alive(pid: int) -> bool:
    """True if process `pid` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove the staging and old-site folders beside `out_dir` left by builds whose process is gone.

    A build in progress (its process alive) keeps its folders, so two builds never interfere.
    """
    pattern = re.compile(rf"^\.{re.escape(out_dir.name)}\.(\d+)-[0-9a-f]{{6}}\.(?:tmp|old)$")
    removed = []
    for candidate in out_dir.parent.iterdir():
        match = pattern.match(candidate.name)
        if match and candidate.is_dir() and not candidate.is_symlink() and not _alive(int(match.group(1))):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed
