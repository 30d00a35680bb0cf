"""DMT: towers, the SPTT/flat exchanges against one process, bytes by hand and by link, the speed-up model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.cluster.comm import ByteCounter, count_collectives
from harness.cluster.exchange import host_groups, one_process_group, world_result
from harness.params import as_table
from harness.train.synthetic import random_ctr_batches
from papers.dmt.dmt import flat_lookup, flat_rank, flat_wire_bytes, sptt_lookup, sptt_rank, sptt_wire_bytes
from papers.dmt.experiment import (MODULE, aligned_towers, build_tower_dlrm, distributed_part, random_towers,
                                   speedup_curve, tower_outputs)
from papers.dmt.params import Params

FEATURES = [f"f{i}" for i in range(8)]
ROWS = [30, 20, 25, 40, 10, 15, 35, 12]


def test_towers_keep_planted_groups_together() -> None:
    towers = aligned_towers(FEATURES, 2, 4)
    assert towers == [["f0", "f2", "f4", "f6"], ["f1", "f3", "f5", "f7"]]
    shuffled = random_towers(FEATURES, 2, 4, seed=0)
    assert [len(t) for t in shuffled] == [4, 4] and sorted(sum(shuffled, [])) == sorted(FEATURES)
    assert tower_outputs(towers, 3) == [2, 2]


def test_flat_bytes_by_hand() -> None:
    # 2 hosts x 2 ranks, batch 8 (b = 2), blocks of 2 features, dim 4: each ordered pair of ranks moves
    # b x 2 x (8 id bytes + 2 x 4 x 4 vector bytes) = 160 bytes; 4 intra pairs, 8 cross-host pairs
    assert flat_wire_bytes(8, [2, 2, 2, 2], 4, 2) == {"intra": 4 * 160.0, "inter": 8 * 160.0}


def test_sptt_bytes_by_hand() -> None:
    # towers of 4 features, outputs of 8 floats, 2 hosts x 2 ranks, batch 8 (b = 2), dim 4:
    # cross-host: each of the 4 ranks sends b x 4 ids (64 B) and b x 8 floats out and back (128 B) to its one peer;
    # intra-host: each rank sends hosts x b x 2 features x (8 + 32) = 320 B to its one local partner;
    # TM gradients (100 B per tower): ring all-reduce over 2 ranks, 100 B per rank
    assert sptt_wire_bytes(8, [4, 4], [8, 8], 4, 2, [100, 100]) == {"intra": 4 * 320.0 + 4 * 100.0,
                                                                     "inter": 4 * (64.0 + 128.0)}


def test_one_rank_sptt_and_flat_equal_the_model() -> None:
    p = Params(dim=4, bottom=(3, 8, 4), top=(8, 1), compression=2)
    sizes = dict(zip(FEATURES, ROWS))
    batch = random_ctr_batches(1, 6, 3, ROWS, seed=1)[0]
    ids = batch.sparse_features.values().view(8, -1).T
    with one_process_group():
        groups = host_groups(1, 1)
        for with_tms in (False, True):
            torch.manual_seed(0)
            model = build_tower_dlrm(p, sizes, [FEATURES], with_tms)
            reference = torch.cat([o.reshape(6, -1) for o in model.tower_outputs(batch.sparse_features)], dim=1)
            counter = ByteCounter()
            with count_collectives(counter):
                got = torch.cat(sptt_lookup(sptt_rank(model, FEATURES, groups), ids), dim=1)
            assert torch.allclose(got, reference, atol=1e-6)
            assert counter.calls() == {"all_to_all": 4}
        flat = flat_lookup(flat_rank(model, FEATURES, 0, 1), ids)
        assert flat.shape == (6, 8 * 4)


def test_speedup_model_fixes_the_declared_share_and_grows_with_hosts() -> None:
    p = Params(sim_hosts=(2, 8, 64))
    curve = speedup_curve(p)
    first = curve[0]
    assert first["flat_comm_s"] / (first["flat_comm_s"] + first["compute_s"]) == pytest.approx(p.comm_share)
    speedups = [row["speedup"] for row in curve]
    assert speedups == sorted(speedups) and speedups[0] > 1.0


@pytest.mark.slow
def test_four_gloo_processes_two_hosts_match_one_process_and_the_hand_bytes(tmp_path: Path) -> None:
    p = Params(synthetic_rows=600, synthetic_vocab=100, batch_size=64, procs=4, hosts=2, local_ranks=2,
               exchange_batch=32, dim=4, bottom=(13, 8, 4), top=(8, 1))
    payload = {"params": as_table(p), "data_dir": str(tmp_path), "work_dir": str(tmp_path / "work"), "seeds": [0]}
    r = world_result(distributed_part, MODULE, 4, payload, tmp_path / "world")["0"]
    assert (r["world"], r["hosts"], r["local_ranks"]) == (4, 2, 2)
    for tag in ("flat", "sptt", "sptt_tm"):
        assert r[f"{tag}_diff"] < 1e-5, tag
        assert r[f"{tag}_links"] == r[f"{tag}_formula"], tag
    assert r["sptt_grad_diff"] < 1e-5 and r["sptt_tm_grad_diff"] < 1e-5  # relative to the largest gradient entry
    # without TMs the same vectors cross hosts (peer to peer); with TMs fewer
    assert r["sptt_links"]["inter"] == r["flat_links"]["inter"]
    assert r["sptt_tm_links"]["inter"] < r["flat_links"]["inter"]
