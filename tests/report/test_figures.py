"""run_figures: the AdaTT notebook executed by papermill on a fixture record, and its failure path."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from repro.figures import FAILED_NOTEBOOK, run_figures
from harness.errors import UserError

ADATT_NOTEBOOK = Path(__file__).resolve().parents[2] / "papers" / "adatt" / "figures.ipynb"


@pytest.mark.slow
def test_adatt_notebook_draws_figures_from_the_record(tmp_path, record_factory, run_writer):
    run_dir = run_writer(tmp_path / "results", record_factory(seeds=2, epochs=3))
    before = json.loads((run_dir / "record.json").read_text())

    figures = run_figures(ADATT_NOTEBOOK, run_dir)

    names = sorted(p.name for p in figures)
    assert names == ["test_auc_per_task.png", "test_auc_per_task.svg", "training_curves.png", "training_curves.svg"]
    assert all(p.parent == run_dir / "figures" and p.stat().st_size > 1000 for p in figures)
    assert (run_dir / "figures" / "test_auc_per_task.png").read_bytes()[:4] == b"\x89PNG"
    after = json.loads((run_dir / "record.json").read_text())
    assert after["figures"] == [f"figures/{n}" for n in names]
    assert after["notebook"] == "figures/figures.ipynb"
    assert {k: v for k, v in after.items() if k not in ("figures", "notebook")} == before
    executed = nbformat.read(run_dir / "figures" / "figures.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and str(run_dir / "record.json") in injected[0].source
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]


def _notebook(path: Path, body: str) -> Path:
    """A notebook with a `parameters` cell and one code cell."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('record_path = ""\noutput_dir = None', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(body)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


def test_failing_notebook_gives_a_clear_error_and_leaves_the_record_intact(tmp_path, record_factory, run_writer):
    run_dir = run_writer(tmp_path / "results", record_factory())
    (run_dir / "figures").mkdir()
    (run_dir / "figures" / "old.png").write_bytes(b"earlier figure")
    record_bytes = (run_dir / "record.json").read_bytes()
    broken = _notebook(tmp_path / "broken.ipynb", 'raise KeyError("val_auc_income")')

    with pytest.raises(UserError) as info:
        run_figures(broken, run_dir)

    message = str(info.value)
    assert "failed in cell" in message and "KeyError" in message and "val_auc_income" in message
    assert "record" in message and "unchanged" in message and FAILED_NOTEBOOK in message
    assert (run_dir / "record.json").read_bytes() == record_bytes
    assert (run_dir / "figures" / "old.png").read_bytes() == b"earlier figure"
    assert "KeyError" in (run_dir / FAILED_NOTEBOOK).read_text()
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]


def test_missing_record_or_notebook_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no run record"):
        run_figures(ADATT_NOTEBOOK, tmp_path)
    (tmp_path / "record.json").write_text("{}")
    with pytest.raises(UserError, match="no such figures notebook"):
        run_figures(tmp_path / "nope.ipynb", tmp_path)
