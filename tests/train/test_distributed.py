"""Scale-out: 2 CPU processes (torchrun, gloo, DistributedModelParallel) follow the 1-process loss curve."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

import pytest
import torch

from dist_worker import CONFIG
from harness.train.distributed import shard_rows
from harness.train.trainer import fit, seed_everything
from train_helpers import small_dlrm, small_splits

HERE = Path(__file__).resolve().parent
# Same global batch (32 = 2 x 16): per-step losses agree to float32 reduction-order noise.
LOSS_TOLERANCE = 1e-5


# A matmul over 10 or 11 rows may block (and so round) differently from one over 32 rows; a
# wrongly split feature would change the logits by O(0.1), not by float32 rounding.
SHARD_TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}


def test_shard_rows_splits_every_feature_consistently() -> None:
    torch.manual_seed(0)
    model = small_dlrm()
    batch = next(iter(small_splits()[0]))
    full = model(batch)
    halves = [model(shard_rows(batch, rank, 2)) for rank in range(2)]
    torch.testing.assert_close(torch.cat(halves), full, **SHARD_TOLERANCE)
    thirds = [model(shard_rows(batch, rank, 3)) for rank in range(3)]  # 32 rows: 10 / 11 / 11
    assert [len(t) for t in thirds] == [10, 11, 11]
    torch.testing.assert_close(torch.cat(thirds), full, **SHARD_TOLERANCE)


def _train_on_two(torchrun: Callable[..., int], out: Path, *extra: str, sparse: str = "sgd", check: bool = True) -> int:
    """``dist_worker.py`` on 2 gloo processes with the fused `sparse` optimizer; its exit code."""
    return torchrun(HERE / "dist_worker.py", str(out), "0", *extra, env={"SPARSE_OPTIMIZER": sparse}, timeout=240,
                    check=check)


@pytest.mark.slow
@pytest.mark.parametrize("sparse", ["sgd", "rowwise_adagrad"])
def test_two_processes_match_one_process_loss_curve(tmp_path: Path, sparse: str, torchrun: Callable[..., int]) -> None:
    out = tmp_path / "two.json"
    _train_on_two(torchrun, out, sparse=sparse)
    two = json.loads(out.read_text())
    seed_everything(0)
    train, splits = small_splits(batch_size=32)
    one = fit(small_dlrm(), train, splits, [""], dataclasses.replace(CONFIG, sparse_optimizer=sparse), "cpu")
    assert len(two["losses"]) == len(one.step_losses) == 30
    assert max(abs(a - b) for a, b in zip(two["losses"], one.step_losses)) < LOSS_TOLERANCE
    assert two["metrics"]["test_auc"] == pytest.approx(one.metrics["test_auc"], abs=1e-3)
    ranks = {r for tables in two["plan"].values() for table in tables.values() for r in table["ranks"]}
    assert ranks == {0, 1}  # the planner spread the tables over both processes


@pytest.mark.slow
def test_two_process_run_resumes_exactly(tmp_path: Path, torchrun: Callable[..., int]) -> None:
    folder = tmp_path / "checkpoints"
    assert _train_on_two(torchrun, tmp_path / "x.json", str(folder), "interrupt", sparse="rowwise_adagrad",
                         check=False) != 0
    assert sorted(p.name for p in folder.glob("step-*.pt")) == [
        "step-000000010.rank0.pt", "step-000000010.rank1.pt", "step-000000020.rank0.pt", "step-000000020.rank1.pt"]
    _train_on_two(torchrun, tmp_path / "resumed.json", str(folder), sparse="rowwise_adagrad")
    _train_on_two(torchrun, tmp_path / "straight.json", sparse="rowwise_adagrad")
    resumed, straight = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("resumed", "straight"))
    assert resumed["losses"] == straight["losses"] and resumed["metrics"] == straight["metrics"]
