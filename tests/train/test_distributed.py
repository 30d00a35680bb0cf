"""Scale-out: 2 CPU processes (torchrun, gloo, DistributedModelParallel) follow the 1-process loss curve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dist_worker import CONFIG
from repro.harness.train.distributed import shard_rows
from repro.harness.train.trainer import fit, seed_everything
from train_helpers import set_threads, small_dlrm, small_splits

HERE = Path(__file__).resolve().parent
# Same global batch (32 = 2 x 16): per-step losses agree to float32 reduction-order noise.
LOSS_TOLERANCE = 1e-5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_shard_rows_splits_every_feature_consistently() -> None:
    set_threads()
    torch.manual_seed(0)
    model = small_dlrm()
    batch = next(iter(small_splits()[0]))
    full = model(batch)
    halves = [model(shard_rows(batch, rank, 2)) for rank in range(2)]
    torch.testing.assert_close(torch.cat(halves), full, rtol=0, atol=0)
    thirds = [model(shard_rows(batch, rank, 3)) for rank in range(3)]  # 32 rows: 10 / 11 / 11
    assert [len(t) for t in thirds] == [10, 11, 11]
    torch.testing.assert_close(torch.cat(thirds), full, rtol=0, atol=0)


def test_two_processes_match_one_process_loss_curve(tmp_path: Path) -> None:
    out = tmp_path / "two.json"
    env = {**os.environ, "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                    "--master-port", str(_free_port()), str(HERE / "dist_worker.py"), str(out), "0"],
                   env=env, check=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=240)
    two = json.loads(out.read_text())
    set_threads()
    seed_everything(0)
    train, splits = small_splits(batch_size=32)
    one = fit(small_dlrm(), train, splits, [""], CONFIG, "cpu")
    assert len(two["losses"]) == len(one.step_losses) == 30
    assert max(abs(a - b) for a, b in zip(two["losses"], one.step_losses)) < LOSS_TOLERANCE
    assert two["metrics"]["test_auc"] == pytest.approx(one.metrics["test_auc"], abs=1e-3)
    ranks = {r for tables in two["plan"].values() for table in tables.values() for r in table["ranks"]}
    assert ranks == {0, 1}  # the planner spread the tables over both processes
