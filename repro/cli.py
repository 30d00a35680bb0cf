"""The `repro` command: list, run, report, figures, doctor, data and completion.

Every command has ``--help``. Every failure a user can cause (a :class:`~harness.errors.UserError`,
a permission or disk problem, Ctrl-C) prints one line naming the path and the fix and exits with
status 2 (130 for Ctrl-C); ``--debug`` adds the traceback. A completed run exits 0 whatever its
verdicts. ``repro --version`` prints the version; ``repro completion bash|zsh`` prints a shell
completion script (shtab).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from repro import __version__, failures, records
from harness.errors import UserError
from harness.quiet import quiet_library_noise

EXIT_USER_ERROR = failures.EXIT_USER_ERROR
COMPLETION_SHELLS = ("bash", "zsh", "tcsh")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {failures.excerpt(text, 40)!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed_count(text: str) -> int:
    value = _positive_int(text)
    if value > records.MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"at most {records.MAX_SEEDS} seeds per run, got {failures.excerpt(value, 40)}; "
                                         f"a verdict needs 3-10, more only lengthens the run")
    return value


_FOLDER_FLAGS = (("results", "--results"), ("out", "--out"), ("cache_dir", "--cache-dir"), ("data_dir", "--data-dir"))


def _check_folder_flags(args: argparse.Namespace) -> None:
    """Refuse a folder flag (or $REPRO_RESULTS_DIR) that names an existing file, before anything is written."""
    given = [(flag, getattr(args, attr, None)) for attr, flag in _FOLDER_FLAGS]
    if hasattr(args, "results") and not args.results and os.environ.get("REPRO_RESULTS_DIR"):
        given.append(("$REPRO_RESULTS_DIR", os.environ["REPRO_RESULTS_DIR"]))
    for flag, value in given:
        if value and Path(value).exists() and not Path(value).is_dir():
            raise UserError(f"{flag} {failures.excerpt(value)} is a file, not a folder; pass a folder "
                            f"(it is created if it does not exist)")


def _warn_skipped(console: Console, skipped: list[tuple[Path, str]]) -> None:
    """One warning line per record left out because it is invalid, naming it and why."""
    for run_dir, reason in skipped:
        console.print(f"[yellow]warning:[/] skipped {escape(str(run_dir))}: {escape(failures.excerpt(reason, 400))}",
                      highlight=False)


def _cache_dir(args: argparse.Namespace) -> Path | None:
    """The prepared-cache folder from --cache-dir (None: $REPRO_CACHE_DIR, else the per-user cache)."""
    return Path(args.cache_dir) if getattr(args, "cache_dir", None) else None


def _results_dir(args: argparse.Namespace) -> Path:
    return Path(args.results or os.environ.get("REPRO_RESULTS_DIR", "results"))


# ------------------------------------------------------------------ repro list

def cmd_list(args: argparse.Namespace, console: Console) -> int:
    """Print every catalog paper with its status and the verdict counts of its latest real run.

    A smoke run tests the pipeline, not the paper: it is shown only for a paper with no other run.
    """
    from repro.registry import load_registry
    from repro.report.views import is_smoke, latest_real, underpowered_count

    papers = load_registry()
    scan = records.scan_records(_results_dir(args))
    _warn_skipped(_stderr(), scan.skipped)
    runs_by_paper: dict[str, list[dict]] = {}
    for record in scan.records:  # oldest first
        runs_by_paper.setdefault(Path(record["_dir"]).parent.name, []).append(record)
    rows: list[dict[str, Any]] = []
    for paper in papers.values():
        latest = latest_real(runs_by_paper.get(paper.id, [])) if paper.implemented else None
        rows.append({"id": paper.id, "title": paper.title, "year": paper.year, "arxiv": paper.arxiv,
                     "family": paper.family, "status": paper.status,
                     "latest_run": latest["run_id"] if latest else None,
                     "verdicts": latest["verdict_counts"] if latest else None,
                     "underpowered": underpowered_count(latest) if latest else None,
                     "smoke": is_smoke(latest) if latest else None})
    if args.implemented:
        rows = [r for r in rows if r["status"] == "implemented"]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if args.markdown:
        from repro.docs import papers_table
        print(papers_table(papers, runs_by_paper))
        return 0
    table = Table(title=f"recrepro: {len(rows)} papers ({sum(r['status'] == 'implemented' for r in rows)} implemented)")
    for col in ("id", "title", "year", "arXiv", "family", "status", "latest verdicts (✓ / ✗ / ?)"):
        table.add_column(col, overflow="fold")
    for r in rows:
        counts = r["verdicts"]
        verdicts = (f"{counts['reproduced']} / {counts['not reproduced']} / {counts['inconclusive']}"
                    if counts else ("no run yet" if r["status"] == "implemented" else ""))
        style = "bold" if r["status"] == "implemented" else "dim"
        table.add_row(r["id"], r["title"], str(r["year"]), r["arxiv"], r["family"],
                      f"[{style}]{r['status']}[/]", verdicts)
    console.print(table)
    return 0


# ------------------------------------------------------------------ repro docs

def cmd_docs(args: argparse.Namespace, console: Console) -> int:
    """Rewrite (or check) the README blocks generated from the run records."""
    from repro.docs import update_docs

    updates = update_docs(Path(args.root), _results_dir(args), check=args.check)
    for update in updates:
        state = ("stale" if args.check else "rewritten") if update.changed else "up to date"
        console.print(f"{update.path}: {state}" + (f" (run {update.run_id})" if update.run_id else ""),
                      highlight=False)
    return 1 if args.check and any(u.changed for u in updates) else 0


# ------------------------------------------------------------------ repro run

def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """Run one paper's reproduction and print its verdict table."""
    from repro.runner import RunRequest, run

    if args.resume is not None:
        records.check_run_id(args.resume, "--resume")
    request = RunRequest(paper_id=args.paper, profile=args.profile, seeds=args.seeds, device=args.device,
                         data_dir=args.data_dir, results_dir=_results_dir(args), resume=args.resume,
                         nproc=args.nproc, figures=not args.no_figures, threads=args.threads, jobs=args.jobs,
                         overrides=tuple(args.set or ()))
    run(request, console)
    return 0


# ------------------------------------------------------------------ repro report / figures

def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """Build the static HTML site from the run records."""
    from repro.registry import load_registry
    from repro.report import build_site

    papers = [{"id": p.id, "title": p.title, "year": p.year, "arxiv": p.arxiv, "family": p.family,
               "status": p.status} for p in load_registry().values()]
    stderr = _stderr()
    index = build_site(_results_dir(args), Path(args.out), papers,
                       on_skip=lambda run_dir, reason: _warn_skipped(stderr, [(run_dir, reason)]))
    console.print(f"report written: {escape(str(index))}", highlight=False)
    return 0


def cmd_figures(args: argparse.Namespace, console: Console) -> int:
    """Re-execute a finished run's figure notebook (no retraining)."""
    from repro.registry import get_paper
    from repro.runner import make_figures

    run_dir = records.find_run(_results_dir(args), args.run_id)
    records.load_record(run_dir)
    paper_id = run_dir.parent.name
    notebook = get_paper(paper_id).figures_notebook()
    if notebook is None:
        raise UserError(f"paper {paper_id} has no figures.ipynb")
    make_figures(notebook, run_dir, console)
    return 0


# ------------------------------------------------------------------ repro doctor

def cmd_doctor(args: argparse.Namespace, console: Console) -> int:
    """Print versions, whether FBGEMM's ops load, the hardware and the datasets present."""
    import torch

    from repro import envinfo
    from harness.data import registry as datasets
    from harness.data.datadir import ENV_VAR, resolve_data_dir

    for name, version in envinfo.package_versions().items():
        console.print(f"{name:>16}  {version}", highlight=False)
    console.print(f"{'fbgemm ops':>16}  {_fbgemm_status()}", highlight=False)
    console.print(f"{'cpu':>16}  {envinfo.cpu_model()} ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})",
                  highlight=False)
    gpus = envinfo.gpu_info()
    console.print(f"{'gpu':>16}  {', '.join(gpus) if gpus else 'none (CUDA not available)'}", highlight=False)
    data_dir = resolve_data_dir(args.data_dir)
    source = "--data-dir" if args.data_dir else (f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "per-user cache")
    console.print(f"{'data dir':>16}  {data_dir} (from {source})", highlight=False)
    for entry in datasets.ENTRIES.values():
        console.print(f"{entry.id:>24}  {datasets.status(entry, data_dir)}", highlight=False)
    return 0


def _fbgemm_status() -> str:
    try:
        import fbgemm_gpu  # noqa: F401  (registers torch.ops.fbgemm)
        import torch

        torch.ops.fbgemm.asynchronous_complete_cumsum(torch.tensor([1, 2, 3]))
        return "loaded (torch.ops.fbgemm works)"
    except Exception as exc:  # report any failure to load, whatever it is
        return f"FAILED to load: {type(exc).__name__}: {exc}"


# ------------------------------------------------------------------ repro data

def cmd_data_list(args: argparse.Namespace, console: Console) -> int:
    """List every dataset id with its status in the data directory."""
    from harness.data import registry as datasets
    from harness.data.datadir import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    table = Table(title=f"datasets in {data_dir}")
    for col in ("id", "status", "description"):
        table.add_column(col, overflow="fold")
    for entry in datasets.ENTRIES.values():
        table.add_row(entry.id, datasets.status(entry, data_dir, cache_dir=_cache_dir(args)), entry.description)
    console.print(table)
    return 0


def cmd_data_prepare(args: argparse.Namespace, console: Console) -> int:
    """Build the checked, memory-mapped cache of one dataset id, with a live rows/s line."""
    from harness.data import registry as datasets
    from harness.data.datadir import resolve_data_dir
    from repro.progress import PrepareBar

    entry = datasets.get_entry(args.dataset)
    with PrepareBar(console) as bar:
        report = datasets.prepare(entry, resolve_data_dir(args.data_dir), raw=args.raw,
                                  skip_bad_lines=args.skip_bad_lines, progress=bar.update,
                                  cache_dir=_cache_dir(args))
    console.print_json(data=report)
    return 0


def cmd_data_verify(args: argparse.Namespace, console: Console) -> int:
    """Re-hash the raw files and the cache of one dataset id and run its integrity checks."""
    from harness.data import registry as datasets
    from harness.data.datadir import resolve_data_dir

    report = datasets.verify(datasets.get_entry(args.dataset), resolve_data_dir(args.data_dir),
                             cache_dir=_cache_dir(args))
    console.print_json(data=report)
    return 0


def cmd_data_download(args: argparse.Namespace, console: Console) -> int:
    """Download one dataset's official files, verifying checksums, renaming into place when good."""
    from harness.data import registry as datasets
    from harness.data.datadir import resolve_data_dir
    from repro.progress import download_with_bar

    entry = datasets.get_entry(args.dataset)
    download_with_bar(entry.spec, resolve_data_dir(args.data_dir), console, base_url=args.base_url)
    return 0


# ------------------------------------------------------------------ parser

def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every `repro` command."""
    parser = _Parser(prog="repro", description="Reproduce DLRM-family recommendation papers "
                                     "and check their claims. Data directory: --data-dir, else $REPRO_DATA_DIR, "
                                     "else ~/.cache/recrepro/datasets.")
    parser.add_argument("--version", action="version", version=f"repro (recrepro) {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, print the full traceback instead of one line")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an error, print the full traceback instead of one line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command",
                                parser_class=_with_parents(common))

    p = sub.add_parser("list", help="all papers of the catalog, their status and latest verdicts")
    p.add_argument("--results", help="results folder (default ./results or $REPRO_RESULTS_DIR)")
    p.add_argument("--implemented", action="store_true", help="only implemented papers")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--markdown", action="store_true", help="a Markdown table (the README's papers table)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run a paper's reproduction and print its verdicts")
    p.add_argument("paper", help="paper id (see `repro list`)")
    p.add_argument("--profile", choices=("smoke", "default", "full"), default="default",
                   help="smoke: synthetic data, seconds; default: real data, minutes on a CPU; full: paper scale")
    p.add_argument("--seeds", type=_seed_count,
                   help=f"number of seeds, 1-{records.MAX_SEEDS} (default: the profile's)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train")
    p.add_argument("--data-dir", help="dataset folder (default $REPRO_DATA_DIR, else the per-user cache)")
    p.add_argument("--results", help="results folder (default ./results or $REPRO_RESULTS_DIR)")
    p.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run from its checkpoints")
    p.add_argument("--nproc", type=_positive_int, default=1,
                   help="processes on this machine (torchrun; gloo on CPU, nccl on CUDA)")
    p.add_argument("--threads", type=_positive_int,
                   help="torch CPU threads per process (default: the profile's, else one per core)")
    p.add_argument("--jobs", type=_positive_int,
                   help="independent (model, seed) trainings run side by side in worker processes "
                        "(default: the profile's, else 1)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a profile parameter (repeatable; dotted keys reach nested tables, e.g. "
                        "tasks.0.epochs=2; values are TOML literals); recorded in the run's config")
    p.add_argument("--no-figures", action="store_true", help="skip the figure notebook after the run")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("docs", help="rewrite the README blocks generated from run records",
                       description="Rewrite the root README's papers table and each paper README's "
                       "'Latest default run' block from the run records (between their marker lines).")
    p.add_argument("--results", help="results folder (default ./results or $REPRO_RESULTS_DIR)")
    p.add_argument("--root", default=".", help="the project's root folder (default: the current one)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is stale")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("report", help="build the static HTML report from the run records")
    p.add_argument("--results", help="results folder (default ./results or $REPRO_RESULTS_DIR)")
    p.add_argument("--out", default="site", help="output folder (default ./site)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("figures", help="re-execute a finished run's figure notebook (no retraining)")
    p.add_argument("run_id", help="the run id (folder name under results/<paper>/)")
    p.add_argument("--results", help="results folder (default ./results or $REPRO_RESULTS_DIR)")
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("doctor", help="versions, FBGEMM, hardware, data directory and datasets present")
    p.add_argument("--data-dir", help="dataset folder to inspect")
    p.set_defaults(func=cmd_doctor)

    data = sub.add_parser("data", help="list, prepare, verify or download datasets")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="action")
    actions: list[tuple[str, str, Callable[..., int]]] = [
        ("list", "dataset ids and their status (absent / raw present / prepared / verified)", cmd_data_list),
        ("prepare", "build the checked, memory-mapped cache of a dataset id", cmd_data_prepare),
        ("verify", "re-hash raw files and cache; run the integrity checks", cmd_data_verify),
        ("download", "fetch the official files with checksum verification", cmd_data_download),
    ]
    for name, help_text, func in actions:
        p = dsub.add_parser(name, help=help_text, description=help_text)
        if name != "list":
            p.add_argument("dataset", help="dataset id (see `repro data list`)")
        p.add_argument("--data-dir", help="dataset folder (default $REPRO_DATA_DIR, else the per-user cache)")
        if name != "download":
            p.add_argument("--cache-dir", help="prepared caches (default $REPRO_CACHE_DIR, else "
                           "~/.cache/recrepro/prepared); the data folder itself is never written")
        if name == "prepare":
            p.add_argument("--raw", help="path of the raw file(s), if not in the data directory")
            p.add_argument("--skip-bad-lines", action="store_true",
                           help="skip malformed lines (counted in the manifest) instead of stopping")
        if name == "download":
            p.add_argument("--base-url", help="a mirror to fetch from instead of the official source")
        p.set_defaults(func=func)

    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh or tcsh)",
                       description="Print a completion script for `repro`. bash: "
                       "`repro completion bash > ~/.local/share/bash-completion/completions/repro`; "
                       "zsh: `repro completion zsh > ~/.zfunc/_repro` (with ~/.zfunc in $fpath).")
    p.add_argument("shell", choices=COMPLETION_SHELLS, help="the shell to complete for")
    p.set_defaults(func=cmd_completion)
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error: the message and where the help is, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {failures.excerpt(message, 300)} "
                                   f"(see `{self.prog} --help`)\n")


def _with_parents(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    """A parser class whose every instance inherits `common`'s options (``--debug``)."""

    class SubParser(_Parser):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("parents", [common])
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    return SubParser


def cmd_completion(args: argparse.Namespace, console: Console) -> int:
    """Print the completion script of `repro` for one shell (generated by shtab from the parser)."""
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def _report_failure(message: str) -> None:
    """Print the one-line (at most a few lines, bounded in length) message of a failure."""
    _stderr().print(f"[bold red]error:[/] {escape(failures.bounded_message(message))}", highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `repro` command: dispatch, and turn every user-caused failure into one line."""
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False)) or os.environ.get("REPRO_DEBUG") == "1"
    quiet_library_noise()
    # Off a terminal (CI logs, pipes) rich would wrap tables at 80 columns; give them room.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        _check_folder_flags(args)
        return args.func(args, console)
    except failures.RunInterrupted as exc:
        if debug:
            raise
        _stderr().print(f"[bold yellow]interrupted:[/] {escape(exc.message)}", highlight=False)
        return failures.EXIT_INTERRUPTED
    except BrokenPipeError:  # `repro list | head`: the reader left; say nothing more
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (stays open until exit, so the final flush succeeds)
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        _stderr().print("[bold yellow]interrupted[/] (Ctrl-C); finished work is kept, and `repro data prepare` "
                        "continues where it stopped when run again", highlight=False)
        return failures.EXIT_INTERRUPTED
    except BaseException as exc:
        if debug or not failures.is_user_caused(exc):
            raise
        _report_failure(failures.describe(exc))
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
