"""DES: the partial-sum DeepFM equals the one-process model, and its bytes equal the hand formulas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.cluster.comm import ByteCounter, count_collectives
from harness.cluster.exchange import blocks, one_process_group, world_result
from harness.params import as_table
from harness.train.synthetic import random_ctr_batches
from papers.des.des import DeepFM, des_logits, des_payload_bytes, des_shard, dense_parameter_bytes, mesh_logits, mesh_rank
from papers.des.experiment import MODULE, des_wire_bytes, distributed_part, mesh_wire_bytes, ps_bytes
from papers.des.params import Params

ROWS = [50, 40, 30, 20]


def _model() -> DeepFM:
    torch.manual_seed(0)
    return DeepFM([f"f{i}" for i in range(len(ROWS))], ROWS, 4, 3, (8, 4))


def test_hand_formulas() -> None:
    # one all-reduce of B (2 + k + h) floats: 512 x (2 + 16 + 64) x 4 bytes, 2(N-1)/N of it per rank on the wire
    assert des_payload_bytes(512, 16, 64) == 167_936
    assert des_wire_bytes(512, 16, 64, 2) == 2 * 167_936  # 2 ranks x 1 x payload
    assert des_wire_bytes(512, 16, 64, 4) == 4 * 1.5 * 167_936
    # mesh on 2 ranks, 26 features, k = 16: pooled 512 x 26 x 17 x 4 forward and back, half of each crosses,
    # plus each rank's ring all-reduce of 1,000 dense bytes (2 x 1/2 x 1,000 per rank)
    assert mesh_wire_bytes(512, 26, 16, 1_000, 2) == 2 * 0.5 * 512 * 26 * 17 * 4 + 2 * 1_000


def test_ps_bytes_count_unique_rows_per_worker() -> None:
    ids = np.array([[1, 7], [1, 8], [2, 8], [2, 8]])
    # worker 0 rows {0, 1}: unique 1 + 2 = 3; worker 1 rows {2, 3}: 1 + 1 = 2; k = 3 -> (k + 1) 4 = 16 bytes a row
    assert ps_bytes(ids, 2, 3, 10) == 2 * (3 * 16 + 10) + 2 * (2 * 16 + 10)


def test_des_and_mesh_equal_the_model_on_one_rank_with_counted_bytes() -> None:
    model = _model()
    batch = random_ctr_batches(1, 16, 3, ROWS, seed=1)[0]
    owned = blocks(len(ROWS), 1)[0]
    with one_process_group():
        counter = ByteCounter()
        with count_collectives(counter):
            des = des_logits(des_shard(model, owned), owned, batch)
            mesh = mesh_logits(mesh_rank(model, owned), owned, 1, 0, batch)
    reference = model(batch)
    assert torch.allclose(des, reference, atol=1e-6) and torch.allclose(mesh, reference, atol=1e-6)
    assert counter.calls() == {"all_reduce": 1, "all_to_all": 1}
    assert counter.payload_by_collective()["all_reduce"] == des_payload_bytes(16, 4, 8)
    assert counter.wire_total() == 0.0  # one rank: nothing leaves it


def test_partials_are_additive_over_table_blocks() -> None:
    model = _model()
    batch = random_ctr_batches(1, 8, 3, ROWS, seed=2)[0]
    from papers.des.des import owned_features
    parts = [des_shard(model, blk).partials(owned_features(batch.sparse_features, blk)) for blk in blocks(4, 2)]
    summed = model.head(parts[0] + parts[1], batch.dense_features)
    assert torch.allclose(summed, model(batch), atol=1e-6)
    assert dense_parameter_bytes(model) == 4 * (16 * 8 + 1 + 3 * 8 + 8 + 8 * 4 + 4 + 4 + 1)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_and_the_hand_bytes(tmp_path: Path) -> None:
    p = Params(synthetic_rows=600, synthetic_vocab=100, batch_size=64, procs=2, dim=4, hidden=(8, 4), steps=3)
    payload = {"params": as_table(p), "data_dir": str(tmp_path), "work_dir": str(tmp_path / "work"), "seeds": [0]}
    result = world_result(distributed_part, MODULE, 2, payload, tmp_path / "world")["0"]
    assert result["world"] == 2
    assert result["des_diff_step0"] < 1e-5 and result["des_diff_trained"] < 1e-5
    assert result["mesh_diff_step0"] < 1e-5 and result["mesh_diff_trained"] < 1e-5
    assert result["des_wire"] * 2 == des_wire_bytes(64, 4, 8, 2)
    assert result["mesh_wire"] * 2 == mesh_wire_bytes(64, 26, 4, result["dense_bytes"], 2)
    assert result["des_calls"] == {"all_reduce": 3}  # one per step, nothing in the backward
    assert result["des_wire"] < result["mesh_wire"]
