"""Feature extraction and task generators against the official code's outputs (golden fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from harness.sharding.protocols import get_protocol
from harness.sharding.tasks import autoshard_tasks, dreamshard_tasks, neuroshard_tasks
from harness.sharding.traces import TraceFile


REPOS = ("autoshard", "dreamshard", "neuroshard")
Official = Callable[[str], dict[str, Any]]


def _ids(line: str) -> tuple[int, ...]:
    return tuple(int(x) for x in line.split(","))


@pytest.mark.parametrize("repo", REPOS)
def test_features_equal_the_official_gen_dlrm_data(repo: str, trace_path: Path, official: Official) -> None:
    expected = official(repo)["table_configs"]
    truncate = get_protocol(repo).int_pooling_factor
    dims = [c.get("dim", 16) for c in expected]
    with TraceFile(trace_path) as trace:
        tables = list(trace.iter_tables(dims, truncate_pooling=truncate))
    assert len(tables) == len(expected) == 10
    for table, config in zip(tables, expected):
        assert table.row == config["row"]
        assert table.pooling_factor == config["pooling_factor"]  # exact: int-truncated or the float32 mean
        assert list(table.bins) == [config[f"bin_{j}"] for j in range(17)]
    assert tables[8].bins == (0.0,) * 17 and tables[8].row == 100  # the empty table
    assert tables[9].row == 100  # indices below 50: the official floor of 100 rows


def test_pooling_factor_truncation_differs_between_protocols(official: Official) -> None:
    ds, ns = official("dreamshard")["table_configs"], official("neuroshard")["table_configs"]
    assert any(float(a["pooling_factor"]) != b["pooling_factor"] for a, b in zip(ds, ns))
    assert all(a["pooling_factor"] == int(b["pooling_factor"]) for a, b in zip(ds, ns))


def test_autoshard_tasks_and_dims_equal_the_official_draws(official: Official) -> None:
    fx = official("autoshard")
    t = fx["tasks"]
    got = autoshard_tasks(10, seed=t["seed"], t_range=tuple(t["t_range"]), num_train=t["num_train"], num_test=t["num_test"])
    assert list(got.pool_dims) == [c["dim"] for c in fx["table_configs"]]
    assert [s.table_ids for s in got.train] == [_ids(x) for x in t["train"]]
    assert [s.table_ids for s in got.test] == [_ids(x) for x in t["test"]]
    tt = fx["tasks_transfer"]
    got = autoshard_tasks(10, seed=tt["seed"], t_range=tuple(tt["t_range"]), num_train=tt["num_train"],
                          num_test=tt["num_test"], transfer=True, transfer_ratio=tt["transfer_ratio"])
    assert list(got.pool_dims) == tt["dims"]
    assert [s.table_ids for s in got.train] == [_ids(x) for x in tt["train"]]
    assert all(max(s.table_ids) < 5 for s in got.train)  # transfer: train tasks from the first half
    assert [s.table_ids for s in got.test] == [_ids(x) for x in tt["test"]]


def test_dreamshard_tasks_equal_the_official_draws(official: Official) -> None:
    t = official("dreamshard")["tasks"]
    got = dreamshard_tasks(10, seed=t["seed"], t_range=tuple(t["t_range"]), num_train=t["num_train"], num_test=t["num_test"])
    assert [s.table_ids for s in got.train] == [_ids(x) for x in t["train"]]
    assert [s.table_ids for s in got.test] == [_ids(x) for x in t["test"]]
    train_ids = {i for s in got.train for i in s.table_ids}
    assert not train_ids & {i for s in got.test for i in s.table_ids}  # unseen tables at test


def test_neuroshard_tasks_equal_the_official_draws(official: Official) -> None:
    fx = official("neuroshard")
    t = fx["tasks"]
    rows = [c["row"] for c in fx["table_configs"]]
    got = neuroshard_tasks(rows, seed=t["seed"], num_tasks=t["num_tasks"], t_range=tuple(t["t_range"]), max_mem_gb=t["max_mem"])
    expected = [tuple(_ids(part) for part in line.split()) for line in t["lines"]]
    assert [(s.table_ids, s.dims) for s in got.test] == expected
    assert any(len(set(s.table_ids)) < len(s.table_ids) for s in got.test)  # drawn with replacement
