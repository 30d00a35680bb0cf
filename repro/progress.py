"""Live progress of a run (models x seeds, epochs, examples/s) and the verdict table.

On a terminal, a rich progress bar shows the current (model, seed) job and its epochs; elsewhere
(CI, pipes, tests) one plain line is printed per finished job, so logs stay readable.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TransferSpeedColumn)
from rich.table import Table

from harness.data.catalog import DatasetSpec
from harness.data.download import Downloaded, download_dataset
from harness.data.progress import PrepareProgress

STATUS_STYLE = {"reproduced": "bold green", "not reproduced": "bold red", "inconclusive": "bold yellow"}


class ConsoleProgress:
    """Implements :class:`harness.experiment.Progress` on a rich console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.jobs_done = 0
        self._live = console.is_terminal
        self._bar: Progress | None = None
        self._task: Any = None
        self._job = ""
        self._job_start = 0.0
        self._last_rate = 0.0
        self._epochs_done = 0

    def start_job(self, model: str, seed: int, epochs: int) -> None:
        """Begin a (model, seed) job of `epochs` epochs."""
        self._job = f"{model} seed {seed}"
        self._job_start = time.perf_counter()
        self._epochs_done, self._last_rate = 0, 0.0
        if self._live:
            self._bar = Progress(TextColumn("[bold]job {task.fields[n]}[/] {task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("epochs"), TimeElapsedColumn(),
                                 TextColumn("{task.fields[rate]}"), console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self._job, total=epochs, n=self.jobs_done + 1, rate="")

    def update(self, epoch: int, examples_per_s: float, message: str = "") -> None:
        """The current job finished `epoch`."""
        self._epochs_done, self._last_rate = epoch, examples_per_s
        if self._bar is not None:
            self._bar.update(self._task, completed=epoch, rate=f"{examples_per_s:,.0f} ex/s  {message}")

    def end_job(self) -> None:
        """The current job finished: print its one-line summary."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        self.jobs_done += 1
        seconds = time.perf_counter() - self._job_start
        self.console.print(f"[{self.jobs_done:>3}] {self._job}: {self._epochs_done} epochs, "
                           f"{self._last_rate:,.0f} examples/s, {seconds:.1f} s", highlight=False)

    def log(self, message: str) -> None:
        """Print a line the user should read (as plain text: paths may hold rich markup such as ``[/]``)."""
        self.console.print(message, highlight=False, markup=False)


def download_with_bar(spec: DatasetSpec, data_dir: Path, console: Console,
                      base_url: str | None = None) -> list[Downloaded]:
    """Download `spec`'s files with a live byte counter, then say how each was checked."""
    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def on_bytes(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)

        results = download_dataset(spec, data_dir, base_url=base_url, progress=on_bytes)
    for item in results:
        note = "already present, checksum ok" if item.skipped else (
            "checksum verified" if item.verified else "no official checksum: recorded sha256 " + item.sha256)
        console.print(f"{item.path}: {note}", highlight=False, markup=False)
    return results


class PrepareBar:
    """Draws the data harness's preprocessing reports (rows, rows/s, ETA) as a live rich bar."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                             TimeElapsedColumn(), console=console, transient=True)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> "PrepareBar":
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def update(self, event: PrepareProgress) -> None:
        """Show one :class:`~harness.data.progress.PrepareProgress` report."""
        if event.stage not in self._tasks:
            self._tasks[event.stage] = self._bar.add_task(event.stage, total=event.total_bytes, info="")
        eta = f", ETA {event.eta_s:,.0f} s" if event.eta_s is not None else ""
        self._bar.update(self._tasks[event.stage], completed=event.done_bytes,
                         info=f"{event.rows:,} rows, {event.rows_per_s:,.0f} rows/s{eta}")


def verdict_table(record: dict[str, Any]) -> Table:
    """The verdict table of a run record: claim id, source, paper figure, our figure, verdict, reason.

    Claims appear by id to keep the table short on a terminal; their full statements are in the
    record and on the report's paper page. Underpowered inconclusive claims are marked.
    """
    paper = record["paper"]
    table = Table(title=f"{paper['id']}: {paper['title']} — profile {record['profile']}, "
                        f"{len(record['config']['seeds'])} seeds", show_lines=True, expand=False,
                  caption="claims by id; full statements in record.json and in `repro report`")
    for name, kw in (("claim", {"ratio": 2}), ("source", {"ratio": 2}), ("paper", {"ratio": 1}),
                     ("ours (mean ± std)", {"ratio": 2}), ("verdict", {"no_wrap": True}), ("reason", {"ratio": 3})):
        table.add_column(name, overflow="fold", **kw)
    for v in record["verdicts"]:
        claim = v["claim_id"] + (" [transferred]" if v["transferred"] else "")
        status = f"[{STATUS_STYLE[v['status']]}]{v['status']}[/]" + ("\n(underpowered)" if v.get("underpowered") else "")
        table.add_row(claim, v["source"], v["paper"], v["ours"], status, v["reason"])
    return table


def facts_table(record: dict[str, Any]) -> Table | None:
    """The computed facts of a run (configuration arithmetic, shown beside the claims, never verdicts)."""
    facts = record.get("facts") or []
    if not facts:
        return None
    table = Table(title="computed facts (configuration arithmetic: not evidence, not counted)", show_lines=True)
    for name in ("fact", "paper", "ours", "what it is"):
        table.add_column(name, overflow="fold")
    for f in facts:
        table.add_row(*(escape(str(f[k])) for k in ("claim_id", "paper", "ours", "text")))
    return table


def protocol_table(record: dict[str, Any]) -> Table | None:
    """The paper's protocol beside this run's (data, rows, epochs, seeds, recipe)."""
    paper, ours = record.get("paper_protocol") or {}, record.get("run_protocol") or {}
    if not paper and not ours:
        return None
    table = Table(title="protocol: the paper's and this run's", show_lines=True)
    for name in ("", "paper", "this run"):
        table.add_column(name, overflow="fold")
    for key in ("data", "rows", "epochs", "seeds", "recipe"):
        table.add_row(key, escape(str(paper.get(key, "not stated"))), escape(str(ours.get(key, "—"))))
    if paper.get("source"):
        table.caption = escape(f"paper's protocol: {paper['source']}")
    return table


def summary_line(record: dict[str, Any]) -> str:
    """``3 reproduced, 1 not reproduced, 8 inconclusive (5 underpowered at this scale); 2 computed facts``."""
    counts = record["verdict_counts"]
    text = ", ".join(f"[{STATUS_STYLE[k]}]{n} {k}[/]" for k, n in counts.items())
    text += f" ({record.get('underpowered_count', 0)} underpowered at this scale)"
    if record.get("facts"):
        text += f"; {len(record['facts'])} computed fact{'s' if len(record['facts']) != 1 else ''} (not counted)"
    return text


def print_summary(console: Console, record: dict[str, Any], run_dir: str) -> None:
    """Print the protocol (notes, the paper's beside ours), the verdicts, the facts and the counts of a run."""
    for note in record.get("protocol_notes", []):
        console.print(f"[bold yellow]protocol:[/] {escape(str(note))}", highlight=False)
    for extra in (protocol_table(record), verdict_table(record), facts_table(record)):
        if extra is not None:
            console.print(extra)
    if record.get("banner"):
        console.print(f"[bold yellow]{record['banner']}[/]", highlight=False)
    method = (record.get("multiple_testing") or {}).get("method")
    console.print(summary_line(record) + (f"  — p-values {method}-adjusted across the run's claims" if method else "")
                  + f"  — record: {run_dir}", highlight=False)
