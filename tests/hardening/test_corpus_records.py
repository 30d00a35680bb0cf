"""Corrupt records: `report`, `list` and `figures` survive every variant, name the record and say why."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from records_fixture import RUN_A, RUN_B, record, write
from repro import records


def _without(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda r: {k: v for k, v in r.items() if k != key}


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], Any]:
    def change(r: dict[str, Any]) -> Any:
        r = copy.deepcopy(r)
        target = r
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return r
    return change


VARIANTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "not json": lambda r: "{ this is not json",
    "a list": lambda r: [r],
    "a string": lambda r: "just text",
    "null": lambda r: None,
    "no verdict_counts": _without("verdict_counts"),
    "no run_id": _without("run_id"),
    "no paper": _without("paper"),
    "paper is a string": _set(("paper",), "dlrm"),
    "int finished_at": _set(("finished_at",), 1735732800),
    "verdicts is a string": _set(("verdicts",), "all good"),
    "verdict_counts values are strings": _set(("verdict_counts", "reproduced"), "one"),
    "metric is a string": _set(("runs",), [{"model": "dlrm", "seed": 0, "metrics": {"test_auc": "high"}}]),
    "figures is a dict": _set(("figures",), {"a": 1}),
    "future schema version": _set(("schema_version",), 99),
    "empty file": lambda r: "",
}


def _body(variant: str) -> Any:
    body = VARIANTS[variant](record(run_id=RUN_B))
    return body if isinstance(body, str) else json.dumps(body)


@pytest.mark.corpus("traceback")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_report_and_list_skip_a_corrupt_record_and_name_it(cli, tmp_path, variant):
    results = tmp_path / "results"
    write(results, record(run_id=RUN_A))
    write(results, _body(variant), run_id=RUN_B)
    out = cli("report", "--results", str(results), "--out", str(tmp_path / "site"), code=0, clean=[tmp_path])
    assert f"skipped {results / 'dlrm' / RUN_B}" in " ".join(out.err.split()), out.err
    assert (tmp_path / "site" / "papers" / "dlrm" / RUN_A / "index.html").is_file()
    out = cli("list", "--results", str(results), "--json", code=0)
    assert RUN_B in " ".join(out.err.split())
    [dlrm] = [row for row in json.loads(out.out) if row["id"] == "dlrm"]
    assert dlrm["latest_run"] == RUN_A


@pytest.mark.corpus("traceback")
@pytest.mark.parametrize("variant", ["not json", "a list", "no paper", "int finished_at"])
def test_figures_on_a_corrupt_record_is_one_line(cli, tmp_path, variant):
    results = tmp_path / "results"
    write(results, _body(variant), run_id=RUN_B)
    out = cli("figures", RUN_B, "--results", str(results), clean=[tmp_path])
    assert "record.json" in out.err


def test_an_older_record_is_migrated_on_read(tmp_path):
    old = record(run_id=RUN_A)
    old["schema_version"] = 1
    del old["verdict_counts"], old["figures"]
    run_dir = write(tmp_path, old)
    loaded = records.load_record(run_dir)
    assert loaded["schema_version"] == records.SCHEMA_VERSION
    assert loaded["verdict_counts"] == {"reproduced": 1, "not reproduced": 1, "inconclusive": 1}
    assert loaded["figures"] == []


def test_records_are_validated_on_write(tmp_path):
    run_id, partial = records.new_run(tmp_path, "dlrm", "smoke")
    bad = record(run_id=run_id)
    bad["verdicts"] = "oops"
    with pytest.raises(records.InvalidRecord, match="field verdicts"):
        records.finalize(partial, bad)
    assert partial.is_dir() and not (partial / records.RECORD_FILE).exists()


def test_extra_fields_are_welcome_where_new_content_goes(tmp_path):
    extended = record(run_id=RUN_A, smoke=True, facts=[{"id": "f"}], protocol={"x": 1})
    extended["verdicts"][0] |= {"p_adjusted": 0.01, "power": 0.8, "flags": ["underpowered"]}
    run_dir = write(tmp_path, extended)
    assert records.load_record(run_dir)["verdicts"][0]["power"] == 0.8
