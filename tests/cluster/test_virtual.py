"""Virtual data-parallel workers: equal to full-batch training, and to a real 2-process gloo DDP run."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from cluster_helpers import batches, param_bytes, tiny_dlrm
from harness.cluster.virtual import VirtualWorkers, bce_loss
from harness.errors import ConfigError

HERE = Path(__file__).resolve().parent
# fp32 reduction order differs (a mean over 2 shard gradients vs one over the batch; DDP's bucketed
# all-reduce); after 6 SGD steps the parameters agree to ~1e-7. A wrong shard or scaling moves them by >1e-3.
PARAM_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def _sgd(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1)


def _virtual_run(workers: int) -> VirtualWorkers:
    virtual = VirtualWorkers(tiny_dlrm(), workers, _sgd)
    for batch in batches():
        virtual.step(batch)
    return virtual


def test_two_virtual_workers_equal_full_batch_training() -> None:
    virtual = _virtual_run(2)
    model = tiny_dlrm()
    optimizer = _sgd(model)
    for batch in batches():
        optimizer.zero_grad()
        bce_loss(model, batch).backward()
        optimizer.step()
    for replica in virtual.replicas:
        torch.testing.assert_close(replica.state_dict(), model.state_dict(), **PARAM_TOLERANCE)
    # one all-reduce of every gradient per step, each of the model's parameter bytes
    assert virtual.counter.calls() == {"all_reduce": len(batches())}
    assert virtual.counter.payload_by_collective()["all_reduce"] == len(batches()) * param_bytes(model)
    assert virtual.counter.wire_total() == pytest.approx(len(batches()) * param_bytes(model))  # 2(p-1)/p = 1


def test_model_averaging_makes_replicas_equal() -> None:
    virtual = VirtualWorkers(tiny_dlrm(), 3, _sgd)
    for w, replica in enumerate(virtual.replicas):
        with torch.no_grad():
            next(replica.parameters()).add_(float(w))
    expected = torch.stack([next(r.parameters()).detach().clone() for r in virtual.replicas]).mean(0)
    virtual.average_parameters()
    for replica in virtual.replicas:
        torch.testing.assert_close(next(replica.parameters()), expected)
    with pytest.raises(ConfigError, match="one tensor per worker"):
        virtual.all_reduce_mean([torch.zeros(2)])


@pytest.mark.slow
def test_virtual_workers_match_two_gloo_processes(tmp_path: Path, torchrun: Callable[..., int]) -> None:
    out = tmp_path / "ddp.pt"
    torchrun(HERE / "dp_worker.py", str(out))
    real = torch.load(out)
    virtual = _virtual_run(2)
    torch.testing.assert_close(virtual.replicas[0].state_dict(), real["state"], **PARAM_TOLERANCE)
    # The byte counter saw DDP's gradient all-reduce: every step, the model's parameter bytes (hand count).
    expected = param_bytes(tiny_dlrm())
    assert [c.get("all_reduce") for c in real["counted"]] == [expected] * len(batches())
