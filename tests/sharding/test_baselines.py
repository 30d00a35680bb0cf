"""Greedy, random and naive sharders equal the official functions (golden fixtures), and the
official "last device when nothing fits" quirk is reproduced and flagged."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from harness.sharding.baselines import greedy_shard, naive_shard, random_shard
from harness.sharding.cost import memory_violation
from harness.sharding.plan import ShardingTask
from harness.sharding.protocols import get_protocol
from harness.sharding.tables import Table



def _task(repo: str, case: dict[str, Any]) -> ShardingTask:
    tables = tuple(Table(raw_id=i, row=c["row"], dim=c["dim"], pooling_factor=c["pooling_factor"], bins=(0.0,) * 17)
                   for i, c in enumerate(case["configs"]))
    return ShardingTask(tables, case["ndevices"], case["max_memory"], fp16=get_protocol(repo).fp16_sizes)


REPOS = ("autoshard", "dreamshard", "neuroshard")
CASES = [(repo, k) for repo in REPOS for k in range(5)]  # five cases per repository (tests/fixtures/sharding)
Official = Callable[[str], dict[str, Any]]


@pytest.mark.parametrize(("repo", "k"), CASES)
def test_greedy_sharders_equal_the_official_partitions(repo: str, k: int, official: Official) -> None:
    case = official(repo)["greedy_cases"][k]
    task = _task(repo, case)
    for method, partitions in case["partitions"].items():
        result = greedy_shard(task, method, quirk_compat=True)
        assert result.plan is not None
        assert result.plan.partitions() == partitions, (repo, k, method)


@pytest.mark.parametrize(("repo", "k"), CASES)
def test_random_and_naive_equal_the_official_draws(repo: str, k: int, official: Official) -> None:
    case = official(repo)["greedy_cases"][k]
    task = _task(repo, case)
    plan = random_shard(task, 5).plan
    assert plan is not None and plan.allocation() == case["random_seed5"]
    if "naive" in case:
        naive = naive_shard(task).plan
        assert naive is not None and naive.allocation() == case["naive"]


@pytest.mark.parametrize("repo", REPOS)
def test_overflow_quirk_is_reproduced_flagged_and_optional(repo: str, official: Official) -> None:
    case = official(repo)["greedy_cases"][4]  # total size 1.15x the devices' capacity
    task = _task(repo, case)
    result = greedy_shard(task, "size_greedy", quirk_compat=True)
    assert result.overflowed and not result.feasible
    assert result.notes["official_overflow_quirk"] is True
    assert result.plan is not None
    assert all(t in result.plan.shards[-1] for t in result.overflowed)  # official partitions[-1]
    assert memory_violation(task, result.plan).startswith("out of memory")
    strict = greedy_shard(task, "size_greedy", quirk_compat=False)
    assert strict.plan is None and not strict.feasible


def test_fits_without_the_quirk_on_a_generous_cap(official: Official) -> None:
    case = official("dreamshard")["greedy_cases"][0]
    result = greedy_shard(_task("dreamshard", case), "lookup_greedy", quirk_compat=False)
    assert result.feasible and result.overflowed == ()
