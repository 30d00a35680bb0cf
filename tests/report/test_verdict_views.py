"""The report keeps smoke runs apart and shows what a verdict means: at a glance, protocol, facts, p-values."""

from __future__ import annotations

from repro.report import build_site
from repro.report.views import at_a_glance, claim_rows, fact_rows, latest_real, protocol_rows


def _with_verdict_fields(record: dict) -> dict:
    """The fields `repro run` adds for a reviewer: p-values, power, facts, the two protocols."""
    inconclusive = record["verdicts"][2]
    inconclusive["underpowered"] = True
    record["verdicts"][0].update(p_value=0.0071, p_adjusted=0.0213, adjustment={"method": "holm", "family_size": 3})
    record["underpowered_count"] = 1
    record["multiple_testing"] = {"method": "holm", "family_size": 3}
    record["facts"] = [{"claim_id": "qr4-memory", "statement": "QR stores a quarter", "source": "Sec. 3",
                        "paper": "0.25 ± 0.05", "ours": "0.2505", "text": "computed 0.2505 (identical on every seed)"}]
    record["paper_protocol"] = {"data": "Census-Income, full files", "seeds": "100", "source": "Sec. 4.3"}
    record["run_protocol"] = {"data": "census-income-kdd", "rows": "train 100 / val 50 / test 50", "seeds": "3"}
    return record


def test_at_a_glance_counts_underpowered_facts_and_the_adjustment(record_factory) -> None:
    glance = at_a_glance(_with_verdict_fields(record_factory(run_id="20250101T120000Z-default-bbb222")))
    assert glance["total"] == 3 and glance["underpowered"] == 1 and glance["facts"] == 1
    assert glance["method"] == "holm" and glance["family"] == 3 and not glance["smoke"]
    # 1 reproduced, 1 not reproduced, 1 inconclusive which is the underpowered one: three thirds
    assert [(s["label"], s["count"]) for s in glance["segments"]] == [
        ("reproduced", 1), ("not reproduced", 1), ("underpowered", 1)]
    assert abs(sum(s["percent"] for s in glance["segments"]) - 100.0) < 1e-9


def test_protocol_facts_and_p_values(record_factory) -> None:
    record = _with_verdict_fields(record_factory())
    rows = protocol_rows(record)["rows"]
    assert rows[0] == ("data", "Census-Income, full files", "census-income-kdd")
    assert ("epochs", "not stated", "—") in rows
    assert fact_rows(record)[0]["id"] == "qr4-memory"
    claims = claim_rows(record)
    assert claims[0]["p"] == "p 0.0071 · Holm 0.0213" and claims[2]["underpowered"]


def test_the_paper_shows_its_latest_real_run_not_a_newer_smoke_run(tmp_path, record_factory, run_writer, catalog):
    results = tmp_path / "results"
    real = _with_verdict_fields(record_factory(run_id="20250101T120000Z-default-bbb222",
                                               finished_at="2025-01-01T12:05:00+00:00"))
    smoke = record_factory(run_id="20250102T120000Z-smoke-ccc333", finished_at="2025-01-02T12:05:00+00:00")
    smoke["smoke"] = True
    run_writer(results, real)
    run_writer(results, smoke)
    assert latest_real([real, smoke]) is real and latest_real([smoke]) is smoke
    index = build_site(results, tmp_path / "site", catalog, asv_html=tmp_path / "no-asv").read_text()
    assert "2025-01-01 12:05 UTC" in index and "(1 smoke)" in index
    assert "<div class=\"sub\">1 underpowered</div>" in index
    page = (tmp_path / "site" / "papers" / "adatt" / "index.html").read_text()
    assert "bbb222" in page.split('id="runs"')[0] and 'id="smoke-banner"' not in page
    assert 'id="at-a-glance"' in page and 'id="protocol"' in page and 'id="facts"' in page
    assert "Census-Income, full files" in page and "p 0.0071 · Holm 0.0213" in page
    smoke_page = (tmp_path / "site" / "papers" / "adatt" / "20250102T120000Z-smoke-ccc333" / "index.html").read_text()
    assert 'id="smoke-banner"' in smoke_page and "tests the pipeline, not the paper" in smoke_page
    assert "newer than the one the paper" in smoke_page
