"""A paper's figures, drawn from a finished run record by its papermill notebook (issue 5 point 3).

``repro run`` calls :func:`run_figures` after the run, and ``repro figures <run-id>`` calls it
alone: the paper's ``figures.ipynb`` is executed with papermill, with ``record_path`` (the run's
``record.json``) and ``output_dir`` as parameters. Figures therefore come from the record only,
never from retraining.

The notebook writes into a staging folder inside the run; only when it succeeds does that folder
replace ``<run>/figures/`` and the record list the figures (``figures``, ``notebook``). A failing
notebook raises a :class:`UserError`, leaves ``record.json`` and earlier figures untouched and
keeps the executed notebook, traceback included, as ``<run>/figures-failed.ipynb``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import papermill
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from harness.atomic import write_json
from harness.errors import UserError
from repro.records import RECORD_FILE, load_record, validate

KERNEL = "python3"
FIGURES_DIR = "figures"
EXECUTED_NOTEBOOK = "figures.ipynb"
FAILED_NOTEBOOK = "figures-failed.ipynb"
FIGURE_SUFFIXES = (".png", ".svg")
KERNEL_FIX = f"{sys.executable} -m ipykernel install --sys-prefix"


def run_figures(notebook: Path, run_dir: Path, timeout_s: float = 600.0) -> list[Path]:
    """Execute `notebook` on the record in `run_dir`; return the figure files it produced.

    The executed notebook and the PNG/SVG figures land in ``run_dir/figures/``; ``record.json`` is
    then rewritten (atomically) with ``figures`` (paths relative to `run_dir`) and ``notebook``.
    `timeout_s` bounds each notebook cell.
    """
    notebook, run_dir = Path(notebook), Path(run_dir)
    record_file = run_dir / RECORD_FILE
    if not notebook.is_file():
        raise UserError(f"{notebook}: no such figures notebook")
    load_record(run_dir)  # a clear error for a missing, damaged or linked record, before any work
    check_kernel()
    stage = Path(tempfile.mkdtemp(prefix=".figures.", suffix=".tmp", dir=run_dir))
    try:
        _execute(notebook, record_file, stage, timeout_s)
        produced = sorted(p.relative_to(stage) for p in stage.rglob("*") if p.suffix.lower() in FIGURE_SUFFIXES)
        if not produced:
            raise UserError(f"{notebook}: the notebook ran but saved no PNG or SVG into its `output_dir` "
                            f"parameter; save figures there. The run record {record_file} is unchanged.")
        os.chmod(stage, 0o755)
        _replace_dir(stage, run_dir / FIGURES_DIR)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    relative = [f"{FIGURES_DIR}/{p.as_posix()}" for p in produced]
    _update_record(record_file, relative, f"{FIGURES_DIR}/{EXECUTED_NOTEBOOK}")
    (run_dir / FAILED_NOTEBOOK).unlink(missing_ok=True)
    return [run_dir / rel for rel in relative]


def check_kernel() -> None:
    """Make sure the ``python3`` Jupyter kernel exists and runs this interpreter (with its packages)."""
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel as exc:
        raise UserError(f"no Jupyter kernel '{KERNEL}' is installed for this environment; "
                        f"install it with: {KERNEL_FIX}") from exc
    command = spec.argv[0] if spec.argv else ""
    same = command in {"python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}"}
    if not same and Path(command).resolve() != Path(sys.executable).resolve():
        raise UserError(f"the Jupyter kernel '{KERNEL}' ({spec.resource_dir}) runs {command}, not this "
                        f"environment's {sys.executable}; reinstall it with: {KERNEL_FIX}")


def _execute(notebook: Path, record_file: Path, stage: Path, timeout_s: float) -> None:
    """Run the notebook with papermill into `stage`; turn every failure into a clear UserError."""
    executed = stage / EXECUTED_NOTEBOOK
    try:
        papermill.execute_notebook(
            str(notebook), str(executed), kernel_name=KERNEL, progress_bar=False, cwd=str(record_file.parent),
            parameters={"record_path": str(record_file.resolve()), "output_dir": str(stage.resolve())},
            execution_timeout=timeout_s,
            # ipykernel warns on every start that local TCP is unencrypted; keep the CLI output clean.
            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except (PapermillExecutionError, CellTimeoutError, DeadKernelError) as exc:
        failed = record_file.parent / FAILED_NOTEBOOK
        if executed.is_file():
            os.replace(executed, failed)
        if isinstance(exc, PapermillExecutionError):
            what = f"failed in cell [{exc.exec_count}] with {exc.ename}: {exc.evalue}"
        elif isinstance(exc, CellTimeoutError):
            what = f"had a cell run longer than {timeout_s:g} s"
        else:
            what = "lost its kernel (it crashed or ran out of memory)"
        raise UserError(f"{notebook}: the figures notebook {what}. The run record {record_file} is unchanged; "
                        f"the executed notebook with the traceback is {failed}.") from exc


def _replace_dir(source: Path, target: Path) -> None:
    """Move `source` to `target`, removing a previous `target` only after the new one is in place."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)


def _update_record(record_file: Path, figures: list[str], notebook: str) -> None:
    """Rewrite the record (migrated to the current schema) with its figure list and notebook, atomically."""
    record = load_record(record_file.parent)
    del record["_dir"]
    record["figures"] = figures
    record["notebook"] = notebook
    write_json(record_file, validate(record, where=record_file))
