"""End to end: `repro run adatt --profile smoke`, then `repro report`; and the missing-data path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from repro.cli import EXIT_USER_ERROR, main
from repro.records import iter_records


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One smoke run of AdaTT (synthetic census rows), shared by the tests of this module."""
    results = tmp_path_factory.mktemp("results")
    threads = torch.get_num_threads()
    assert main(["run", "adatt", "--profile", "smoke", "--results", str(results)]) == 0
    assert torch.get_num_threads() == threads, "the run's thread count leaked into the caller"
    return results


@pytest.mark.slow
def test_smoke_run_writes_a_complete_record(smoke_run: Path) -> None:
    [record] = iter_records(smoke_run, "adatt")
    run_dir = Path(record["_dir"])
    assert not any(p.name.endswith(".partial") for p in run_dir.parent.iterdir())
    assert record["status"] == "completed" and len(record["config_hash"]) == 16
    assert record["config"]["profile"] == "smoke" and record["config"]["seeds"]
    assert record["config"]["threads"] == 1, "the smoke profile's threads = 1 is not in the config"
    env = record["environment"]
    assert {"torch", "torchrec", "fbgemm-gpu-cpu"} <= set(env["packages"]) and env["cpu"] and "commit" in env["git"]
    assert record["dataset"], "the dataset manifest is empty"
    seeds = set(record["config"]["seeds"])
    assert {r["seed"] for r in record["runs"]} == seeds
    assert all(r["metrics"] and r["curve"] for r in record["runs"])
    assert len(record["verdicts"]) + len(record["facts"]) == len(record["claims"]) > 0
    assert record["smoke"] and "tests the pipeline, not the paper" in record["banner"]
    assert record["multiple_testing"]["method"] == "holm" and record["underpowered_count"] >= 0
    assert record["paper_protocol"]["seeds"] and record["run_protocol"]["seeds"] == str(len(record["config"]["seeds"]))
    assert sum(record["verdict_counts"].values()) == len(record["verdicts"])
    assert record["wall_time_s"] > 0 and record["throughput"]["examples_per_s_mean"] > 0
    assert json.loads((run_dir / "config.json").read_text()) == record["config"]


@pytest.mark.slow
def test_report_renders_the_run(smoke_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert main(["report", "--results", str(smoke_run), "--out", str(out)]) == 0
    index = (out / "index.html").read_text()
    assert "adatt" in index and "wukong" in index
    pages = list((out / "papers" / "adatt").rglob("*.html"))
    assert pages, "no page for adatt"


@pytest.mark.slow
def test_list_counts_the_latest_verdicts(smoke_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json", "--results", str(smoke_run)]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["adatt"]["status"] == "implemented"
    assert sum(rows["adatt"]["verdicts"].values()) > 0


def test_missing_data_names_files_url_and_checksum_and_leaves_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results, empty = tmp_path / "results", tmp_path / "empty"
    empty.mkdir()
    code = main(["run", "adatt", "--data-dir", str(empty), "--results", str(results)])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR
    assert "census-income.test.gz" in err and "archive.ics.uci.edu" in err and "5ac4cacd" in err
    assert not list(results.glob("adatt/*")) and not list(results.glob("adatt/.*"))
