"""Collective cost formulas by hand, the alpha-beta fit, the byte counter in a gloo group, the gloo calibration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import torch.distributed as dist

from harness.cluster.comm import ByteCounter, count_collectives, fit_alpha_beta, loopback_topology
from harness.cluster.topology import COLLECTIVES, Link, Topology, ring_all_reduce_s
from harness.errors import ConfigError
from harness.train.distributed import init_single_process

INTRA, INTER = Link(1e-5, 1e10), Link(1e-3, 1e9)


def test_ring_all_reduce_by_hand() -> None:
    # 2(p-1) alpha + 2(p-1)/p n / bw = 6 ms + 150 ms
    assert ring_all_reduce_s(Link(1e-3, 1e9), 4, 1e8) == pytest.approx(0.156)
    assert ring_all_reduce_s(Link(1e-3, 1e9), 1, 1e8) == 0.0


def test_two_level_topology_by_hand() -> None:
    topo = Topology(hosts=2, local_ranks=4, intra=INTRA, inter=INTER)
    n = 8e8
    # flat ring on 8 ranks paced by the inter-host link: 14 ms + 1.4 s
    assert topo.all_reduce_s(n) == pytest.approx(0.014 + 1.4)
    # reduce-scatter in hosts (30 us + 60 ms), all-reduce of n/4 across 2 hosts (2 ms + 200 ms), all-gather (30 us + 60 ms)
    assert topo.hierarchical_all_reduce_s(n) == pytest.approx(0.06003 + 0.202 + 0.06003)
    small = Topology(hosts=2, local_ranks=2, intra=INTRA, inter=INTER)
    # pairwise all-to-all of 4 MB per rank: 1 intra round + 2 inter rounds of 1 MB
    assert small.all_to_all_s(4e6) == pytest.approx((1e-5 + 1e-4) + 2 * (1e-3 + 1e-3))
    assert small.collective_s("broadcast", 1e6) == pytest.approx(2 * (1e-3 + 1e-3))  # ceil(log2 4) rounds
    with pytest.raises(ConfigError, match="unknown collective"):
        small.collective_s("gossip", 1.0)


def test_alpha_beta_fit_recovers_the_parameters() -> None:
    sizes = [4096 * 4**k for k in range(7)]
    exact = [2e-4 + n / 1.5e9 for n in sizes]
    alpha, bandwidth, error = fit_alpha_beta(sizes, exact)
    assert alpha == pytest.approx(2e-4, rel=1e-6) and bandwidth == pytest.approx(1.5e9, rel=1e-6) and error < 1e-9
    noisy = np.asarray(exact) * np.random.default_rng(0).uniform(0.9, 1.1, len(sizes))
    alpha, bandwidth, _ = fit_alpha_beta(sizes, noisy)
    assert alpha == pytest.approx(2e-4, rel=0.15) and bandwidth == pytest.approx(1.5e9, rel=0.15)
    with pytest.raises(ConfigError, match="do not grow"):
        fit_alpha_beta([1, 2, 3], [3.0, 2.0, 1.0])


def test_byte_counter_counts_every_collective_by_hand(free_port: Callable[[], int]) -> None:
    fresh = not dist.is_initialized()
    init_single_process(torch.device("cpu"), port=free_port())
    try:
        counter = ByteCounter()
        original = dist.all_reduce
        with count_collectives(counter):
            dist.all_reduce(torch.ones(10))                                        # 10 x 4 B
            with counter.tagged("sync"):
                dist.all_gather_single(torch.empty(5), torch.ones(5))              # input 5 x 4 B
            dist.broadcast(torch.ones(3, dtype=torch.int64), src=0)                # 3 x 8 B
            dist.all_to_all_single(torch.empty(8), torch.ones(8))                  # 8 x 4 B
            dist.all_to_all_single(torch.empty(8, dtype=torch.float64), torch.ones(8, dtype=torch.float64))
        assert dist.all_reduce is original  # the wrapper is gone after the block
        assert counter.payload_by_collective() == {"all_reduce": 40, "all_gather": 20, "broadcast": 24,
                                                   "all_to_all": 32 + 64}
        assert counter.calls() == {"all_reduce": 1, "all_gather": 1, "broadcast": 1, "all_to_all": 2}
        assert [r.phase for r in counter.records] == ["", "sync", "", "", ""]
        assert counter.wire_total() == 0.0  # one rank sends nothing
    finally:
        if fresh:
            dist.destroy_process_group()


def test_wire_bytes_follow_the_ring_algorithms() -> None:
    counter = ByteCounter()
    for collective in COLLECTIVES:
        counter.record(collective, 1000, 4)
    counter.record("reduce_scatter", 1000, 4)
    counter.record("send", 1000, 2)  # a point-to-point push: its bytes, whatever the world
    wire = {r.collective: r.wire_bytes for r in counter.records}
    assert wire == {"all_reduce": 1500.0, "all_gather": 3000.0, "broadcast": 750.0, "all_to_all": 750.0,
                    "reduce_scatter": 750.0, "send": 1000.0}
    with pytest.raises(ConfigError, match="unknown collective"):
        counter.record("gossip", 1, 2)


@pytest.mark.slow
def test_gloo_calibration_on_two_processes(tmp_path: Path, free_port: Callable[[], int]) -> None:
    out = tmp_path / "fit.json"
    subprocess.run([sys.executable, "-m", "harness.cluster.comm", "--nproc", "2", "--out", str(out), "--repeats", "3",
                    "--port", str(free_port()), "--sizes", "4096", "65536", "1048576", "4194304"],
                   check=True, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = json.loads(out.read_text())
    assert result["world"] == 2 and result["backend"] == "gloo"
    for collective in COLLECTIVES:
        fit = result["fits"][collective]
        assert fit["alpha_s"] >= 0 and fit["bandwidth_bytes_per_s"] > 0
        assert fit["median_s"][-1] > fit["median_s"][0]  # 4 MiB takes longer than 4 KiB
    topology = loopback_topology(result)
    assert topology.all_reduce_s(4194304) == pytest.approx(
        result["fits"]["all_reduce"]["alpha_s"] + 4194304 / result["fits"]["all_reduce"]["bandwidth_bytes_per_s"])
