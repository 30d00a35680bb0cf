"""The static report: pages, escaping, counts, figures, older runs, the asv page and safe rebuilds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.errors import UserError
from repro.report import build_site
from repro.report.site import SITE_MARKER
from repro.report.views import manifest_view, metric_table, when

OLD, NEW = "20241201T100000Z-smoke-aaa111", "20250101T120000Z-default-bbb222"


@pytest.fixture
def results(tmp_path, record_factory, run_writer):
    """Two runs of adatt: an older smoke run and a newer default run with one figure."""
    results_dir = tmp_path / "results"
    run_writer(results_dir, record_factory(run_id=OLD, finished_at="2024-12-01T10:05:00+00:00"))
    new = record_factory(run_id=NEW, finished_at="2025-01-01T12:05:00+00:00")
    new["figures"] = ["figures/test_auc_per_task.png", "figures/test_auc_per_task.svg", "../../../escape.png"]
    new["notebook"] = "figures/figures.ipynb"
    run_dir = run_writer(results_dir, new)
    (run_dir / "figures").mkdir()
    (run_dir / "figures" / "test_auc_per_task.png").write_bytes(b"\x89PNG fake")
    (run_dir / "figures" / "test_auc_per_task.svg").write_text("<svg/>")
    (run_dir / "figures" / "figures.ipynb").write_text("{}")
    (tmp_path / "escape.png").write_bytes(b"secret")
    return results_dir


def _build(results, tmp_path, catalog, **kw) -> Path:
    return build_site(results, tmp_path / "site", catalog, asv_html=kw.get("asv_html", tmp_path / "no-asv"))


def test_index_lists_every_catalog_paper_with_status_and_latest_counts(results, tmp_path, catalog):
    index = _build(results, tmp_path, catalog)
    html = index.read_text()
    rows = re.findall(r'<tr class="status-([a-z-]+)" data-paper="([a-z-]+)">', html)
    assert rows == [("implemented", "adatt"), ("planned", "dhen"), ("planned", "wukong")]
    assert 'href="papers/adatt/index.html"' in html
    assert "3 papers in the catalog · 1 implemented · 1 with runs" in html
    assert "2025-01-01 12:05 UTC" in html and "2 runs" in html
    assert (tmp_path / "site" / SITE_MARKER).is_file()


def test_claim_text_is_escaped(tmp_path, record_factory, run_writer, catalog):
    results_dir = tmp_path / "results"
    run_writer(results_dir, record_factory(statement_suffix=' <script>alert("x")</script>',
                                           protocol_notes=["uses <b>bold</b> & more"]))
    _build(results_dir, tmp_path, catalog)
    page = (tmp_path / "site" / "papers" / "adatt" / "index.html").read_text()
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "uses &lt;b&gt;bold&lt;/b&gt; &amp; more" in page


def test_paper_page_shows_verdicts_notes_models_and_metadata(results, tmp_path, catalog):
    _build(results, tmp_path, catalog)
    page = (tmp_path / "site" / "papers" / "adatt" / "index.html").read_text()
    statuses = re.findall(r'<span class="verdict v-[a-z-]+">([a-z ]+)</span>', page)
    assert statuses == ["reproduced", "not reproduced", "inconclusive"]
    assert page.count("tag-transferred") >= 2  # the label on the claim and its footnote
    assert 'id="protocol-notes"' in page and "UCI Census-Income (KDD)" in page
    assert "0.9470 ± 0.0012 (n=3)</span><span class=\"nw\"> &gt; </span><span class=\"nw\">0.9429 ± 0.0009 (n=3)" in page
    assert "3f9a2c1e7b6d5a40" in page and "0123456789abcdef0123456789abcdef01234567" in page
    assert "census-income.data.gz" in page and "199523" in page
    assert "412 k" in page and "AdaTT, 6 experts per task" in page
    assert "over 3 seeds" in page


def test_older_runs_get_their_own_page_and_are_listed(results, tmp_path, catalog):
    _build(results, tmp_path, catalog)
    paper_dir = tmp_path / "site" / "papers" / "adatt"
    latest = (paper_dir / "index.html").read_text()
    assert f'href="../../papers/adatt/{OLD}/index.html"' in latest
    older = (paper_dir / OLD / "index.html").read_text()
    assert "This is an older run" in older
    assert "This is an older run" not in (paper_dir / NEW / "index.html").read_text()


def test_figures_are_copied_and_paths_outside_the_run_ignored(results, tmp_path, catalog):
    _build(results, tmp_path, catalog)
    site = tmp_path / "site"
    copied = site / "papers" / "adatt" / NEW / "figures"
    assert sorted(p.name for p in copied.iterdir()) == ["figures.ipynb", "test_auc_per_task.png", "test_auc_per_task.svg"]
    assert not any(p.name == "escape.png" for p in site.rglob("*"))
    page = (site / "papers" / "adatt" / "index.html").read_text()
    assert f'<img src="../../papers/adatt/{NEW}/figures/test_auc_per_task.png"' in page
    assert "missing from the run folder: ../../../escape.png" in page


def test_performance_page_embeds_asv_when_published(results, tmp_path, catalog):
    _build(results, tmp_path, catalog)
    page = (tmp_path / "site" / "performance.html").read_text()
    assert "No asv history has been published yet" in page and "5,322" in page
    asv = tmp_path / "asv-html"
    asv.mkdir()
    (asv / "index.html").write_text("<html>asv</html>")
    _build(results, tmp_path, catalog, asv_html=asv)
    page = (tmp_path / "site" / "performance.html").read_text()
    assert '<iframe class="asv" src="asv/index.html"' in page
    assert (tmp_path / "site" / "asv" / "index.html").read_text() == "<html>asv</html>"


def test_rebuild_replaces_the_old_site_but_never_a_foreign_folder(results, tmp_path, catalog):
    _build(results, tmp_path, catalog)
    stale = tmp_path / "site" / "stale.html"
    stale.write_text("old")
    _build(results, tmp_path, catalog)
    assert not stale.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="not built by `repro report`"):
        build_site(results, foreign, catalog, asv_html=tmp_path / "no-asv")
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_record_of_a_paper_missing_from_the_catalog_is_still_shown(tmp_path, record_factory, run_writer, catalog):
    results_dir = tmp_path / "results"
    run_writer(results_dir, record_factory(paper_id="ghost"))
    html = _build(results_dir, tmp_path, catalog).read_text()
    assert 'data-paper="ghost"' in html and "not in catalog" in html
    assert (tmp_path / "site" / "papers" / "ghost" / "index.html").is_file()


def test_a_sparse_record_renders_with_placeholders(tmp_path, catalog):
    run_dir = tmp_path / "results" / "adatt" / OLD
    run_dir.mkdir(parents=True)
    (run_dir / "record.json").write_text(json.dumps({
        "schema_version": 1, "run_id": OLD, "paper": {"id": "adatt"}, "profile": "smoke", "verdicts": [],
        "started_at": "2024-12-01T10:00:00+00:00"}))
    _build(tmp_path / "results", tmp_path, catalog)
    page = (tmp_path / "site" / "papers" / "adatt" / "index.html").read_text()
    assert "This run evaluated no claims." in page and "No figures for this run" in page


def test_metric_table_marks_the_best_mean_in_the_right_direction(record_factory):
    table = metric_table(record_factory())
    assert [m["name"] for m in table["models"]] == ["adatt_6", "ple_6", "ml_mmoe_6"]
    assert table["rows"][0]["metric"] == "test_auc_education"
    best = {row["metric"]: [c["best"] for c in row["cells"]] for row in table["rows"]}
    assert best["test_auc_never_married"] == [True, False, False]
    loss = metric_table({"runs": [{"model": "a", "metrics": {"train_loss": 0.3}},
                                  {"model": "b", "metrics": {"train_loss": 0.2}}]})
    assert [c["best"] for c in loss["rows"][0]["cells"]] == [False, True]
    assert loss["seeds"] == 1 and loss["rows"][0]["cells"][0]["text"] == "0.3000"


def test_manifest_and_times_are_readable():
    view = manifest_view({"dataset": {"manifest": {"files": [{"name": "a", "rows": 3}, {"name": "b", "sha256": "f"}],
                                                   "splits": {"train": 2}}, "protocol": "x"}})
    assert view["columns"] == ["name", "rows", "sha256"]
    assert view["files"] == [["a", "3", ""], ["b", "", "f"]]
    assert view["fields"] == [("protocol", "x"), ("splits", '{"train": 2}')]
    assert when("2025-01-01T13:05:00+01:00") == "2025-01-01 12:05 UTC"
    assert when("yesterday") == "yesterday"
