"""Verdict history across nights: a trend per paper, the claims whose verdict flipped, and an alert.

    python ci/verdict_history.py --results history/records --summary summary.md --alert alert.md \
        [--asv-status ci/nightly-status/asv-regressions]

Reads the run records under ``--results`` (every night's records, kept on the ``nightly-history``
branch by the nightly workflow) and writes a Markdown summary: per paper and profile the verdict
counts of the last nights (oldest to newest) and every claim whose verdict differs between the
two latest runs. When a verdict flipped, or the asv gate recorded a quality regression, it also
writes ``--alert`` (the body of the issue the workflow opens); otherwise it removes that file.
Invalid records are skipped and listed, as in ``repro report``.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from repro.records import scan_records

TREND_NIGHTS = 10


def _counts(record: dict[str, Any]) -> str:
    c = record["verdict_counts"]
    return f"{c['reproduced']}/{c['not reproduced']}/{c['inconclusive']}"


def flips(previous: dict[str, Any], latest: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(claim_id, before, after)`` for every claim present in both runs whose status changed."""
    before = {v["claim_id"]: v["status"] for v in previous["verdicts"]}
    return [(v["claim_id"], before[v["claim_id"]], v["status"]) for v in latest["verdicts"]
            if v["claim_id"] in before and before[v["claim_id"]] != v["status"]]


def summarize(results: Path, asv_lines: list[str]) -> tuple[str, str | None]:
    """The Markdown summary and, if anything needs a person, the alert text."""
    scan = scan_records(results)
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in scan.records:  # oldest first
        series[(Path(record["_dir"]).parent.name, record["profile"])].append(record)
    lines = ["## Nightly verdicts", "", f"Verdict counts (reproduced/not/inconclusive) of the last {TREND_NIGHTS} "
             "runs per paper and profile, oldest first.", "",
             "| paper | profile | trend | latest run |", "| --- | --- | --- | --- |"]
    flipped: list[str] = []
    for (paper, profile), runs in sorted(series.items()):
        trend = " → ".join(_counts(r) for r in runs[-TREND_NIGHTS:])
        lines.append(f"| {paper} | {profile} | {trend} | {runs[-1]['run_id']} |")
        if len(runs) >= 2:
            flipped += [f"- **{paper}** ({profile}) `{claim}`: {before} → {after} "
                        f"({runs[-2]['run_id']} → {runs[-1]['run_id']})"
                        for claim, before, after in flips(runs[-2], runs[-1])]
    if not series:
        lines.append("| — | — | no valid records | — |")
    if flipped:
        lines += ["", "### Verdicts that flipped since the previous run", "", *flipped]
    if asv_lines:
        lines += ["", "### Benchmarks", "", *[f"- {line}" for line in asv_lines]]
    if scan.skipped:
        lines += ["", "### Records skipped (invalid)", "", *[f"- `{d}`: {why}" for d, why in scan.skipped]]
    quality = [line for line in asv_lines if line.startswith("quality")]
    alert = None
    if flipped or quality:
        alert = "\n".join(["The nightly run found changes that need a look.", "",
                           *(["Verdict flips:", "", *flipped, ""] if flipped else []),
                           *(["Quality benchmark regressions (asv gate):", "", *[f"- {q}" for q in quality]]
                             if quality else [])])
    return "\n".join(lines) + "\n", alert


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="folder of run records (all nights)")
    parser.add_argument("--summary", type=Path, required=True, help="Markdown summary to write")
    parser.add_argument("--alert", type=Path, required=True, help="issue body to write when something flipped")
    parser.add_argument("--asv-status", type=Path, help="lines written by ci/nightly.sh's asv step")
    args = parser.parse_args(argv)
    asv_lines = []
    if args.asv_status and args.asv_status.is_file():
        asv_lines = [line.strip() for line in args.asv_status.read_text().splitlines() if line.strip()]
    summary, alert = summarize(args.results, asv_lines)
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(summary, encoding="utf-8")
    if alert:
        args.alert.write_text(alert + "\n", encoding="utf-8")
    else:
        args.alert.unlink(missing_ok=True)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
