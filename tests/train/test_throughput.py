"""The throughput benchmark's statistics: interleaved rounds, medians and per-round paired ratios."""

from __future__ import annotations

import itertools

import pytest
import torch

from harness.train import throughput


def _runner(totals: list[float]) -> throughput.StepRunner:
    values = iter(totals)
    return lambda steps: {"total": next(values), "cpu_total": 1.0, "forward": 0.5}


def test_interleaved_reports_medians_and_paired_ratios(monkeypatch: pytest.MonkeyPatch) -> None:
    flops = throughput.dlrm_step_flops()
    # the machine slows down in round 2: the floor doubles, and so do both steps
    floors_ms = iter([30.0, 60.0, 30.0])
    monkeypatch.setattr(throughput, "matmul_flops",
                        lambda dtype: (lambda f: (f, f))(1000 * flops / next(floors_ms)))
    runners = {"ours": _runner([50.0, 100.0, 60.0]), "theirs": _runner([60.0, 120.0, 60.0])}
    m = throughput.interleaved(runners, torch.float32, steps=5, rounds=3)
    assert m["floor"] == pytest.approx(30.0) and m["ours"] == 60.0 and m["theirs"] == 60.0
    # paired per round: 50/60, 100/120, 60/60 -> median 5/6; the floor over each round's own step
    assert m["ours_over_theirs"] == pytest.approx(5 / 6)
    assert m["ours_roofline"] == pytest.approx(0.6) and m["theirs_roofline"] == pytest.approx(0.5)
    assert m["ours_forward"] == 0.5 and "theirs_over_ours" not in m


def test_interleaved_runs_every_contender_in_every_round(monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    monkeypatch.setattr(throughput, "matmul_flops", lambda dtype: (order.append("floor"), (1e11, 1e11))[1])

    def runner(name: str) -> throughput.StepRunner:
        return lambda steps: (order.append(name), {"total": 1.0, "cpu_total": 1.0})[1]

    throughput.interleaved({"ours": runner("ours"), "theirs": runner("theirs")}, torch.float32, 1, rounds=2)
    assert order == list(itertools.chain.from_iterable(["floor", "ours", "theirs"] for _ in range(2)))
