"""`repro run`: resolve the config, run the paper's experiment, judge its claims, write the record.

Order of work: validate every input before anything is written; create an exclusive unfinished
run folder (``results/<paper>/.<run-id>.partial``) holding the resolved config; run the paper;
evaluate each claim on the per-seed measurements; write ``record.json`` and rename the folder to
its run id, then fsync the parent folder. A failure a user can cause (missing or corrupt data, a
permission or disk problem) removes the unfinished folder when it holds no checkpoint yet and
keeps it for ``--resume`` when it does, and the message says which; Ctrl-C, a crash or a kill
leaves it for ``--resume``, and Ctrl-C prints the complete command that resumes it.

With ``--nproc N`` the same command is relaunched through torchrun (``torch.distributed.run``) in
worker mode on the unfinished folder; every rank runs the experiment and rank 0 writes the record.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from rich.console import Console
from rich.markup import escape

from repro import envinfo, failures, records
from harness.atomic import write_json
from repro.claims import count_statuses, count_underpowered, evaluate_claims, evaluate_fact
from harness.data import registry as datasets
from harness.data.datadir import default_cache_dir, resolve_data_dir
from harness.errors import ConfigError, UserError
from harness.params import apply_overrides
from harness.experiment import ExperimentContext, ExperimentResult
from repro.progress import ConsoleProgress, download_with_bar, print_summary
from repro.registry import PROFILES, Paper, get_paper

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout, for the git state (absent in a wheel)
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for on the command line."""

    paper_id: str
    profile: str = "default"
    seeds: int | None = None
    device: str = "cpu"
    data_dir: str | None = None
    results_dir: Path = Path("results")
    resume: str | None = None
    nproc: int = 1
    figures: bool = True
    threads: int | None = None
    jobs: int | None = None
    overrides: tuple[str, ...] = ()  # --set key=value, applied to the profile's params


def check_device(device: str) -> None:
    """Refuse ``cuda`` on a machine without a usable CUDA device, with the fix."""
    if device not in ("cpu", "cuda"):
        raise UserError(f"--device must be cpu or cuda, got {device!r}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda was asked for, but torch sees no CUDA device "
                            f"(torch {torch.__version__}). Run with --device cpu, or install the CUDA "
                            "stack as the README's GPU section describes.")


def resolve_config(paper: Paper, request: RunRequest) -> dict[str, Any]:
    """The resolved config of a new run: profile parameters, seeds, device and data directory."""
    if request.profile not in PROFILES:
        raise UserError(f"--profile must be one of {', '.join(PROFILES)}, got {request.profile!r}")
    profile = paper.profiles[request.profile]
    n_seeds = request.seeds if request.seeds is not None else profile.seeds
    if n_seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {n_seeds}")
    import torch

    where = f"{paper.folder}/paper.toml: [profiles.{profile.name}] params"
    params = apply_overrides(profile.params, list(request.overrides))
    paper.parse_params(params, where=where + (f" with --set {' --set '.join(request.overrides)}"
                                              if request.overrides else ""))
    overridden = {"overrides": list(request.overrides)} if request.overrides else {}
    return {
        "paper": paper.id,
        "profile": profile.name,
        "profile_description": profile.description,
        "seeds": list(range(n_seeds)),
        "device": request.device,
        "data_dir": str(resolve_data_dir(request.data_dir)),
        "params": params,
        **overridden,
        "nproc": request.nproc,
        "threads": request.threads or profile.threads or torch.get_num_threads(),
        "jobs": request.jobs or profile.jobs,
    }


def _open_run(paper: Paper, request: RunRequest) -> tuple[str, Path, dict[str, Any]]:
    """A new unfinished run folder with its config, or the one named by ``--resume``."""
    if request.resume:
        partial = records.partial_dir(request.results_dir, paper.id, request.resume)
        return request.resume, partial, _saved_config(partial)
    config = resolve_config(paper, request)
    run_id, partial = records.new_run(request.results_dir, paper.id, config["profile"])
    write_json(partial / CONFIG_FILE, config)
    return run_id, partial, config


SMOKE_BANNER = "smoke run: tests the pipeline, not the paper (synthetic or tiny data; its verdicts say nothing about the paper)"


def _saved_config(partial: Path) -> dict[str, Any]:
    """The config an unfinished run was started with; a clear error when it is absent or damaged."""
    path = partial / CONFIG_FILE
    cannot = (f"the unfinished run {partial} cannot be resumed; start a new run (without --resume) "
              f"and delete that folder")
    if path.is_symlink() or not path.is_file():
        raise UserError(f"{path}: missing; {cannot}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({failures.excerpt(exc, 120)}); {cannot}") from exc
    needed = {"profile": str, "seeds": list, "device": str, "data_dir": str, "params": dict}
    wrong = [key for key, kind in needed.items() if not isinstance(config, dict) or not isinstance(config.get(key), kind)]
    if wrong:
        raise UserError(f"{path}: not a run config (missing or mistyped: {', '.join(wrong)}); {cannot}")
    return config


def resume_command(request: RunRequest, run_id: str) -> str:
    """The complete command that resumes `run_id`: paper, run id, results folder and the flags not in its config."""
    words = ["repro", "run", request.paper_id, "--resume", run_id,
             "--results", str(Path(request.results_dir).resolve())]
    if request.nproc > 1:
        words += ["--nproc", str(request.nproc)]
    if not request.figures:
        words.append("--no-figures")
    return shlex.join(words)


def _has_checkpoints(partial: Path) -> bool:
    """True once the run has written anything beyond its config (checkpoints, scratch)."""
    work = partial / "work"
    return work.is_dir() and any(work.rglob("*"))


def _settle_failed_run(request: RunRequest, run_id: str, partial: Path, exc: BaseException) -> UserError:
    """After a user-caused failure: remove the unfinished folder or keep it for --resume; say which."""
    if request.resume:
        kept = f"the unfinished run stays at {partial}; once fixed, resume with: {resume_command(request, run_id)}"
    elif _has_checkpoints(partial):
        kept = (f"the unfinished run is kept at {partial} (it holds checkpoints); once fixed, resume with: "
                f"{resume_command(request, run_id)}")
    else:
        shutil.rmtree(partial, ignore_errors=True)
        kept = "nothing was kept (the unfinished run folder was removed)"
    return UserError(f"{failures.describe(exc)}\n{kept}")


def build_record(paper: Paper, run_id: str, config: dict[str, Any], result: ExperimentResult,
                 started: float, wall_time_s: float) -> dict[str, Any]:
    """The run record: config and hash, environment, dataset, per-seed results, verdicts, timing.

    Beside the verdicts: the computed facts (``facts``, never counted as verdicts), the multiple
    testing method (``multiple_testing``), the count of claims underpowered at this scale
    (``underpowered_count``), the paper's protocol next to this run's (``paper_protocol``,
    ``run_protocol``) and, for smoke runs, ``smoke`` / ``banner``.
    """
    measurements = result.measurements()
    verdicts = [v.to_dict() for v in evaluate_claims(paper.claims, measurements)]
    facts = [evaluate_fact(c, measurements) for c in paper.claims if c.kind == "fact"]
    family = max((v["adjustment"] or {}).get("family_size", 0) for v in verdicts) if verdicts else 0
    examples_per_s = [r.examples_per_s for r in result.runs if r.examples_per_s]
    smoke = config["profile"] == "smoke"
    return {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": run_id,
        "status": "completed",
        "paper": {"id": paper.id, "title": paper.title, "arxiv": paper.arxiv, "venue": paper.venue,
                  "year": paper.year, "family": paper.family, "authors": list(paper.authors)},
        "profile": config["profile"],
        "smoke": smoke,
        "banner": SMOKE_BANNER if smoke else None,
        "started_at": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": wall_time_s,
        "config": config,
        "config_hash": records.config_hash(config),
        "environment": envinfo.capture(REPO_ROOT),
        "dataset": result.dataset,
        "protocol_notes": result.protocol_notes,
        "paper_protocol": dict(paper.protocol),
        "run_protocol": run_protocol({**config, "params": _resolved_params(paper, config)}, result.dataset),
        "models": result.models,
        "runs": [asdict(r) for r in result.runs],
        "claims": [asdict(c) for c in paper.claims],
        "verdicts": verdicts,
        "verdict_counts": count_statuses(verdicts),
        "underpowered_count": count_underpowered(verdicts),
        "multiple_testing": {"method": "holm", "family_size": family,
                             "scope": "this run's claims that reached a t-test; the reproduced and the "
                                      "not-reproduced directions are adjusted separately"},
        "facts": facts,
        "throughput": {"examples_per_s_mean": sum(examples_per_s) / len(examples_per_s) if examples_per_s else None},
        "figures": [],
    }


def _resolved_params(paper: Paper, config: dict[str, Any]) -> dict[str, Any]:
    """The run's profile parameters with the paper's defaults filled in (its typed ``Params``), as plain data."""
    try:
        return asdict(paper.parse_params(config.get("params") or {}))
    except (ConfigError, TypeError):
        return dict(config.get("params") or {})


def run_protocol(config: dict[str, Any], dataset: dict[str, Any]) -> dict[str, str]:
    """This run's protocol in the words of ``[paper_protocol]``: data, rows, epochs, seeds, recipe.

    Read from the resolved config's profile parameters (top level, or one entry per task) and the
    dataset manifest (``dataset_id`` or ``dataset``, ``splits`` or ``split_sizes``, at its top level
    or one level down).
    """
    params = config.get("params") or {}
    tasks = list(params["tasks"]) if isinstance(params.get("tasks"), (list, tuple)) else [params]
    manifests = [dataset] + [v for v in dataset.values() if isinstance(v, dict)] if isinstance(dataset, dict) else []

    def per_task(*keys: str) -> str:
        parts = []
        for task in tasks:
            found = [f"{k} {task[k]}" for k in keys if k in task]
            if found:
                parts.append((f"{task['name']}: " if "name" in task and len(tasks) > 1 else "") + ", ".join(found))
        return "; ".join(parts) or "—"

    ids = sorted({str(m.get("dataset_id") or m.get("dataset")) for m in manifests
                  if isinstance(m.get("dataset_id") or m.get("dataset"), str)})
    ids = ids or sorted({str(task["dataset"]) for task in tasks if task.get("dataset")})
    data = ", ".join(ids) or str(params.get("data", "—"))
    synthetic = params["data"] == "synthetic" if "data" in params else \
        any(task.get("synthetic_rows") for task in tasks)
    if synthetic:
        data += " (synthetic rows in its format)"
    sizes = [m.get("splits") if isinstance(m.get("splits"), dict) else m.get("split_sizes") for m in manifests]
    rows = "; ".join(" / ".join(f"{k} {v:,}" for k, v in split.items() if isinstance(v, int))
                     for split in sizes if isinstance(split, dict)) or "—"
    return {"data": data, "rows": rows, "epochs": per_task("epochs", "clean_epochs"),
            "seeds": str(len(config.get("seeds", []))),
            "recipe": per_task("protocol", "optimizer", "dense_optimizer", "lr", "dense_lr", "batch_size",
                               "weight_decay", "lr_decay", "clean_lrs", "tuning_seed")}


def _ensure_datasets(paper: Paper, data_dir: Path, console: Console) -> None:
    """On a first run into the per-user cache, download the paper's absent datasets (checksummed).

    A data directory the user chose (flag or $REPRO_DATA_DIR) is never written to: the paper's
    loader then stops with the files expected, their URL and checksum.
    """
    if data_dir != default_cache_dir():
        return
    for dataset_id in paper.datasets:
        entry = datasets.ENTRIES.get(dataset_id)
        if entry is not None and datasets.status(entry, data_dir) == "absent":
            console.print(f"first run: downloading {dataset_id} into {data_dir}", highlight=False)
            download_with_bar(entry.spec, data_dir, console)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` torch CPU threads (None: leave them), then restore the caller's count.

    The count is part of the run's config (``--threads``, else the profile's ``threads``, else
    torch's default): small models train fastest on one thread, and two oversubscribe a 2-core
    machine that is doing anything else. Configs written before the setting existed have none.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def run(request: RunRequest, console: Console) -> Path | None:
    """Carry out `request`; return the finished run folder (None on non-zero ranks)."""
    paper = get_paper(request.paper_id)
    check_device(request.device)
    if request.nproc < 1:
        raise UserError(f"--nproc must be at least 1, got {request.nproc}")
    if request.seeds is not None and not 1 <= request.seeds <= records.MAX_SEEDS:
        raise UserError(f"--seeds must be between 1 and {records.MAX_SEEDS}, got {failures.excerpt(request.seeds, 40)}")
    run_id, partial, config = _open_run(paper, request)
    if request.nproc > 1 and "RANK" not in os.environ:
        try:
            return _launch_workers(request, run_id, partial, console)
        except KeyboardInterrupt as exc:
            raise failures.RunInterrupted(f"the unfinished run {run_id} is kept at {partial}; resume it with: "
                                          f"{resume_command(request, run_id)}") from exc
    try:
        started = time.time()
        result = _run_experiment(paper, request, run_id, partial, config, console)
        if _rank() != 0:
            return None
        record = build_record(paper, run_id, config, result, started, time.time() - started)
        final = records.finalize(partial, record)
    except KeyboardInterrupt as exc:
        raise failures.RunInterrupted(f"the unfinished run {run_id} is kept at {partial}; resume it with: "
                                      f"{resume_command(request, run_id)}") from exc
    except BaseException as exc:
        if _rank() != 0 or not failures.is_user_caused(exc) or not partial.is_dir():
            raise
        raise _settle_failed_run(request, run_id, partial, exc) from exc
    shutil.rmtree(final / "work", ignore_errors=True)
    print_summary(console, record, escape(str(final)))
    notebook = paper.figures_notebook()
    if request.figures and notebook is not None:
        try:
            make_figures(notebook, final, console)
        except UserError as exc:
            results = shlex.quote(str(Path(request.results_dir).resolve()))
            console.print(f"[bold red]run finished and recorded; figures failed:[/] {escape(str(exc))}\n"
                          f"rerun them with: repro figures {run_id} --results {escape(results)}", highlight=False)
    return final


def _run_experiment(paper: Paper, request: RunRequest, run_id: str, partial: Path, config: dict[str, Any],
                    console: Console) -> ExperimentResult:
    """Announce the run, fetch absent datasets into the per-user cache, and run the paper's experiment."""
    console.print(f"[bold]{paper.id}[/] ({escape(paper.title)}) — profile [bold]{config['profile']}[/], "
                  f"seeds {config['seeds']}, device {config['device']}, data {escape(str(config['data_dir']))}",
                  highlight=False)
    console.print(f"run {run_id}" + (" (resumed)" if request.resume else ""), highlight=False)
    if config["profile"] == "smoke":
        console.print(f"[bold yellow]{SMOKE_BANNER}[/]", highlight=False)
    ctx = ExperimentContext(paper_id=paper.id, profile=config["profile"], seeds=config["seeds"],
                            device=config["device"], data_dir=Path(config["data_dir"]),
                            work_dir=partial / "work", params=paper.parse_params(config["params"]),
                            progress=ConsoleProgress(console), jobs=config.get("jobs", 1))
    if config["profile"] != "smoke":
        _ensure_datasets(paper, Path(config["data_dir"]), console)
    with torch_threads(config.get("threads")):
        result = paper.experiment()(ctx)
    if config.get("overrides"):
        result.protocol_notes.append("OVERRIDDEN parameters (repro run --set): " + ", ".join(config["overrides"])
                                     + f"; this is not the {config['profile']} profile as paper.toml declares it.")
    return result


def make_figures(notebook: Path, run_dir: Path, console: Console) -> list[Path]:
    """Execute the paper's figure notebook on a finished run (papermill); the record stays intact."""
    from repro.figures import run_figures

    console.print(f"figures: executing {escape(notebook.name)} on {run_dir.name} …", highlight=False)
    figures = run_figures(notebook, run_dir)
    console.print(f"figures: {len(figures)} written to {escape(str(run_dir / 'figures'))}", highlight=False)
    return figures


def _launch_workers(request: RunRequest, run_id: str, partial: Path, console: Console) -> Path | None:
    """Relaunch this run on `request.nproc` local processes through torchrun, resuming `partial`."""
    from torch.distributed.run import parse_args, run as torchrun

    argv = ["--standalone", f"--nproc-per-node={request.nproc}", "-m", "repro.cli", "run", request.paper_id,
            "--resume", run_id, "--results", str(request.results_dir.resolve())]
    if not request.figures:
        argv.append("--no-figures")
    console.print(f"launching {request.nproc} processes: torchrun {escape(shlex.join(argv))}", highlight=False)
    # torchrun sets OMP_NUM_THREADS=1 for its workers when unset, with a banner saying so; set it the
    # same way here (each rank then sets the run's torch thread count itself), without the banner.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        torchrun(parse_args(argv))
    except Exception as exc:  # torchrun raises ChildFailedError with each rank's traceback
        raise UserError(f"a worker process failed ({type(exc).__name__}); the unfinished run stays at "
                        f"{partial}; see the worker output above, then resume with: "
                        f"{resume_command(request, run_id)}") from exc
    final = partial.parent / run_id
    return final if final.is_dir() else None
