"""Figures from run records: every implemented paper's notebook on a real smoke run (papermill), the
shared drawing helpers of harness/figures.py, and run_figures' failure path."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import matplotlib
import nbformat
import pandas as pd
import pytest

from harness import figures
from harness.errors import UserError
from repro.cli import main
from repro.figures import FAILED_NOTEBOOK, run_figures
from repro.records import iter_records
from repro.registry import load_registry

matplotlib.use("Agg")

ADATT_NOTEBOOK = Path(__file__).resolve().parents[2] / "papers" / "adatt" / "figures.ipynb"
IMPLEMENTED = sorted(p.id for p in load_registry().values() if p.implemented)
# The figures each notebook must draw from a smoke record (a drawing function skips a figure whose
# metrics the record lacks, so a renamed metric shows up here); every notebook also draws "claims".
PAPER_FIGURES = {
    "adatt": {"test_auc_per_task", "training_curves"},
    "dlrm": {"dlrm_vs_logreg", "dlrm_curves"},
    "qr-embeddings": {"qr_by_table_variant", "qr_loss_vs_memory"},
    "md-embeddings": {"md_quality_vs_params"},
    "emb-4bit": {"quantization_quality", "ne_change_vs_size"},
    "fa-sgd": {"auc_per_method", "auc_vs_optimizer_memory"},
    "mx-formats": {"qsnr_by_format", "cast_change_by_format", "mxfp6_training"},
    "bdr": {"qsnr_by_format", "cast_change_by_format"},
    "dhen": {"dhen_table2_checkpoints", "dhen_table3_flops"},
    "wukong": {"wukong_table2_frappe", "wukong_fig4_ablations"},
    "dreamshard": {"dreamshard_cost_per_task", "dreamshard_training"},
    "scaling-laws": {"scaling_data", "scaling_emb", "scaling_width"},
    "cpr": {"overhead_vs_failure_rate", "accuracy_vs_lost_updates", "auc_by_recovery"},
    "des": {"des_bytes_per_step", "des_bytes_vs_workers"},
    "dmt": {"dmt_bytes_by_link", "dmt_speedup_vs_hosts", "dmt_quality"},
    "neuroshard": {"cost_by_method", "cost_model_accuracy"},
    "shadowsync": {"shadowsync_scaling", "shadowsync_quality"},
    "dp-guidelines": {"dp_minibatch_throughput", "dp_ps_scaling", "dp_allreduce_scaling"},
    "autoshard": {"per_task_cost_by_method", "planning_time", "rl_training"},
    "dct": {"dct_dp_bytes_vs_threshold", "dct_quality"},
    "codistillation": {"churn_vs_weight", "codistill_curves"},
}


@pytest.mark.slow
def test_adatt_notebook_draws_figures_from_the_record(tmp_path, record_factory, run_writer):
    run_dir = run_writer(tmp_path / "results", _paper_record(record_factory, seeds=2, epochs=3))
    before = json.loads((run_dir / "record.json").read_text())

    drawn = run_figures(ADATT_NOTEBOOK, run_dir)

    names = sorted(p.name for p in drawn)
    assert names == ["claims.png", "claims.svg", "test_auc_per_task.png", "test_auc_per_task.svg",
                     "training_curves.png", "training_curves.svg"]
    assert all(p.parent == run_dir / "figures" and p.stat().st_size > 1000 for p in drawn)
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


def test_every_implemented_paper_has_a_figures_notebook_and_expected_figures() -> None:
    registry = load_registry()
    missing = [pid for pid in IMPLEMENTED if registry[pid].figures_notebook() is None]
    assert not missing, f"implemented papers without papers/<id>/figures.ipynb: {missing}"
    assert set(PAPER_FIGURES) == set(IMPLEMENTED), "list the figures of every implemented paper in PAPER_FIGURES"


# AdaTT's smoke run trains 22 models (about a minute); its notebook runs on a factory record above,
# and after the real smoke run of tests/repro/test_end_to_end.py.
@pytest.mark.slow
@pytest.mark.parametrize("paper_id", [pid for pid in IMPLEMENTED if pid != "adatt"])
def test_smoke_run_draws_the_papers_figures_and_the_report_shows_them(paper_id: str, tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert main(["run", paper_id, "--profile", "smoke", "--results", str(results)]) == 0

    [record] = iter_records(results, paper_id)
    run_dir = Path(record["_dir"])
    assert not (run_dir / FAILED_NOTEBOOK).exists()
    drawn = {Path(f).stem for f in record["figures"]}
    assert PAPER_FIGURES[paper_id] | {"claims"} <= drawn
    for name in drawn:
        assert (run_dir / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (run_dir / "figures" / f"{name}.svg").read_bytes()[:2000]
    executed = nbformat.read(run_dir / record["notebook"], as_version=4)
    [setup] = [c for c in executed.cells if c.cell_type == "code" and "verdict_table(record)" in c.source]
    assert "paper" in str(setup.outputs), "the verdict table (the paper's side beside ours) is not shown"

    site = tmp_path / "site"
    assert main(["report", "--results", str(results), "--out", str(site)]) == 0
    page = (site / "papers" / paper_id / "index.html").read_text(encoding="utf-8")
    for name in drawn:
        assert f'/figures/{name}.png"' in page, f"the report's {paper_id} page does not show {name}.png"


def _paper_record(record_factory, **kw) -> dict:
    """A factory record with claims as ``repro run`` writes them: a value claim, a relation with the
    paper's two numbers, one without numbers, and one on a model the run did not train."""
    record = record_factory(**({"seeds": 3} | kw))
    record["claims"] = [
        {"id": "adatt9-education-value", "kind": "value", "lhs": "adatt_6:test_auc_education", "op": ">",
         "paper_value": 0.885, "tolerance": 0.005, "source": "Table 3"},
        {"id": "adatt-beats-ple-income", "kind": "relation", "lhs": "adatt_6:test_auc_income", "op": ">",
         "rhs": "ple_6:test_auc_income", "paper_lhs": 0.9506, "paper_rhs": 0.9498, "transferred": True},
        {"id": "adatt-beats-mmoe-married", "kind": "relation", "lhs": "adatt_6:test_auc_never_married",
         "op": ">=", "rhs": "ml_mmoe_6:test_auc_never_married", "tolerance": 0.002},
        {"id": "untrained", "kind": "value", "lhs": "adatt_12:test_auc_income", "paper_value": 0.93, "tolerance": 0.01},
    ]
    return record


def test_paper_values_come_from_the_claims_with_their_verdicts(record_factory) -> None:
    values = figures.paper_values(_paper_record(record_factory))

    rows = {(r["claim_id"], r["model"], r["metric"]): (r["value"], r["tolerance"], r["status"])
            for r in values.to_dict("records")}
    assert rows == {
        ("adatt9-education-value", "adatt_6", "test_auc_education"): (0.885, 0.005, "inconclusive"),
        ("adatt-beats-ple-income", "adatt_6", "test_auc_income"): (0.9506, 0.0, "reproduced"),
        ("adatt-beats-ple-income", "ple_6", "test_auc_income"): (0.9498, 0.0, "reproduced"),
        ("untrained", "adatt_12", "test_auc_income"): (0.93, 0.01, "not evaluated"),
    }
    table = figures.verdict_table(_paper_record(record_factory))
    assert table.loc["adatt-beats-ple-income", "paper"] == "0.9506 > 0.9498"


def test_figures_are_byte_identical_when_redrawn(record_factory, tmp_path: Path) -> None:
    record = _paper_record(record_factory)
    written = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        figures.use_style()
        runs = figures.runs_frame(record, ["test_auc_income", "test_auc_education"])
        fig = figures.seed_band_grid(runs, x="model", col="metric", order=figures.model_order(record),
                                     paper=figures.paper_values(record))
        written.append(figures.save(fig, tmp_path / folder, "auc") + figures.save(
            figures.claims_figure(record), tmp_path / folder, "claims"))
        matplotlib.pyplot.close("all")
    assert [p.name for p in written[0]] == ["auc.png", "auc.svg", "claims.png", "claims.svg"]
    for first, second in zip(*written):
        assert first.read_bytes() == second.read_bytes(), f"{first.name} differs between two draws"


def test_drawing_tolerates_a_record_with_only_runs(record_factory, tmp_path: Path) -> None:
    record = record_factory(seeds=2)
    bare = {"run_id": record["run_id"], "runs": [{k: v for k, v in r.items() if k in ("model", "seed", "metrics")}
                                                 for r in copy.deepcopy(record["runs"])]}
    bare["runs"][0]["metrics"]["note"] = "text is not a metric"

    assert figures.claims_figure(bare) is None and figures.paper_values(bare).empty
    assert figures.curves_grid(figures.curves_frame(bare), ["train_loss"]) is None
    assert figures.save(None, tmp_path, "nothing") == [] and not list(tmp_path.iterdir())
    runs = figures.runs_frame(bare)
    assert "note" not in set(runs["metric"]) and set(runs["model"]) == set(figures.model_order(bare))
    fig = figures.seed_band_grid(runs[runs["metric"] == "test_auc_income"], x="model",
                                 paper=figures.paper_values(bare))
    assert [p.name for p in figures.save(fig, tmp_path, "auc")] == ["auc.png", "auc.svg"]
    assert figures.seed_band_grid(runs[runs["metric"] == "absent"], x="model") is None
    matplotlib.pyplot.close("all")


def test_open_record_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no run record"):
        figures.open_record(tmp_path / "record.json")
    (tmp_path / "record.json").write_text('{"runs": []}')
    with pytest.raises(UserError, match="no 'runs'"):
        figures.open_record(tmp_path / "record.json")
    (tmp_path / "record.json").write_text("{")
    with pytest.raises(UserError, match="not a valid run record"):
        figures.open_record(tmp_path / "record.json")


def test_with_name_parts_parses_the_model_grid() -> None:
    frame = pd.DataFrame({"model": ["dcn_qr_mult_4", "dlrm_full", "logreg"], "value": [1.0, 2.0, 3.0]})
    parts = figures.with_name_parts(frame, r"^(?P<architecture>dlrm|dcn)_(?P<tables>.+)$")
    assert parts["architecture"].tolist()[:2] == ["dcn", "dlrm"] and parts["tables"].tolist()[:2] == ["qr_mult_4", "full"]
    assert parts.loc[2, ["architecture", "tables"]].isna().all() and parts["value"].tolist() == [1.0, 2.0, 3.0]
