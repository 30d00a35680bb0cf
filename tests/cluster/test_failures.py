"""Failure process statistics, and partial recovery of embedding shards inside a real training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from cluster_helpers import batches, tiny_dlrm
from harness.cluster.failures import PartialCheckpointStore, failure_times
from harness.cluster.virtual import bce_loss
from harness.errors import ConfigError
from harness.train.optim import SparseSpec, build_optimizers

# 10,000 failures: the mean gap's standard error is 1% of the MTBF; 4% is four of them.
MEAN_TOLERANCE = 0.04


@pytest.mark.parametrize("shape", [1.0, 0.7])
def test_failure_gaps_have_the_mtbf_as_mean(shape: float) -> None:
    times = failure_times(mean_between=10.0, horizon=100_000.0, rng=np.random.default_rng(1), shape=shape)
    gaps = np.diff(np.concatenate([[0.0], times]))
    assert len(times) == pytest.approx(10_000, rel=MEAN_TOLERANCE)
    assert gaps.mean() == pytest.approx(10.0, rel=MEAN_TOLERANCE)
    # gamma gaps: coefficient of variation 1/sqrt(shape) (1 for the Poisson process)
    assert gaps.std() / gaps.mean() == pytest.approx(1 / np.sqrt(shape), rel=0.05)
    if shape == 1.0:
        assert stats.kstest(gaps, "expon", args=(0, 10.0)).pvalue > 0.001
    assert times.max() < 100_000.0 and np.all(np.diff(times) > 0)


def test_failure_process_rejects_a_non_positive_mtbf() -> None:
    with pytest.raises(ConfigError, match="mean_between > 0"):
        failure_times(0.0, 10.0, np.random.default_rng(0))


def _train(model: torch.nn.Module, optimizers: list[torch.optim.Optimizer], steps: list) -> list[float]:
    losses = []
    for batch in steps:
        for opt in optimizers:
            opt.zero_grad()
        loss = bce_loss(model, batch)
        loss.backward()
        for opt in optimizers:
            opt.step()
        losses.append(float(loss))
    return losses


def _model_and_optimizers() -> tuple[torch.nn.Module, list[torch.optim.Optimizer]]:
    model = tiny_dlrm(backend="torch")  # plain EmbeddingBags: sparse gradients, row-sparse Adagrad
    tables = [p for n, p in model.named_parameters() if "embedding_bags" in n]
    dense = [p for n, p in model.named_parameters() if "embedding_bags" not in n]
    return model, [torch.optim.Adagrad(tables, lr=0.1), torch.optim.Adagrad(dense, lr=0.05)]


def _tables(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {n.split("embedding_bags.")[1].removesuffix(".weight"): (p.detach().clone(),
                                                                     optimizer.state[p]["sum"].clone())
            for n, p in model.named_parameters() if "embedding_bags" in n}


def test_partial_recovery_reverts_only_the_failed_row_shard() -> None:
    model, optimizers = _model_and_optimizers()
    data = batches(12)
    _train(model, optimizers, data[:4])
    store = PartialCheckpointStore.from_model(model, optimizers, shards=2)
    store.save(step=4)
    at_save = _tables(model, optimizers[0])
    _train(model, optimizers, data[4:8])
    before = _tables(model, optimizers[0])
    dense_before = model.top.layers[0].weight.detach().clone()
    assert store.restore_shard(1) == sum(len(range(1, rows, 2)) for rows in (100, 50, 200, 30))
    after = _tables(model, optimizers[0])
    for name, (weight, accumulator) in after.items():
        odd, even = slice(1, None, 2), slice(0, None, 2)
        for now, saved, trained in ((weight, at_save[name][0], before[name][0]),
                                    (accumulator, at_save[name][1], before[name][1])):
            torch.testing.assert_close(now[odd], saved[odd], rtol=0, atol=0)      # shard 1: the checkpoint
            torch.testing.assert_close(now[even], trained[even], rtol=0, atol=0)  # shard 0: kept its updates
        assert not torch.equal(before[name][0][odd], at_save[name][0][odd])     # there was something to lose
    torch.testing.assert_close(model.top.layers[0].weight, dense_before)          # dense layers untouched
    assert all(np.isfinite(_train(model, optimizers, data[8:12])))                 # training goes on


def test_table_layout_and_most_used_rows_saved_between_checkpoints() -> None:
    model, optimizers = _model_and_optimizers()
    data = batches(8)
    store = PartialCheckpointStore.from_model(model, optimizers, shards=2, layout="table")
    store.save(step=0)
    for batch in data[:4]:
        for table, key in zip(sorted(store.tables), ["f0", "f1", "f2", "f3"]):
            store.record_access(table, batch.sparse_features[key].values())
    _train(model, optimizers, data[:4])
    hot = store.most_used("t_f0", 5)
    assert store.save_rows("t_f0", hot) == 5 * 8 * 4 * 2  # weights and Adagrad sums, 8 floats each
    trained = _tables(model, optimizers[0])
    store.restore_shard(0)  # tables t_f0 and t_f2 (name order 0 and 2)
    after = _tables(model, optimizers[0])
    torch.testing.assert_close(after["t_f0"][0][hot], trained["t_f0"][0][hot])  # the refreshed hot rows survive
    cold = torch.ones(100, dtype=torch.bool)
    cold[hot] = False
    assert not torch.equal(after["t_f0"][0][cold], trained["t_f0"][0][cold])
    torch.testing.assert_close(after["t_f1"][0], trained["t_f1"][0])  # shard 1's table is untouched
    counts = store.tables["t_f0"].access
    assert counts is not None and int(counts.sum()) == 4 * 32  # one lookup per row of 4 batches of 32
    assert counts[hot].min() >= counts[cold].max()  # the saved rows are the most used


def test_partial_recovery_reaches_fbgemm_fused_tables() -> None:
    model, optimizers = build_optimizers(tiny_dlrm(), "sgd", 0.05, 0.0, SparseSpec("rowwise_adagrad", 0.1),
                                         torch.device("cpu"))
    store = PartialCheckpointStore.from_model(model, optimizers.sparse, shards=2)
    assert [tuple(t.shape) for t in store.tables["t_f0"].live] == [(100, 8), (100,)]  # weight + row-wise Adagrad
    store.save(step=0)
    saved = [t.clone() for t in store.tables["t_f0"].saved]
    for batch in batches(4):
        optimizers.zero_grad()
        bce_loss(model, batch).backward()
        optimizers.step()
    store.restore_shard(1)
    rows = torch.tensor([1, 3, 5])
    lookup = KeyedJaggedTensor.from_lengths_sync(keys=["f0", "f1", "f2", "f3"], values=torch.cat([rows, torch.zeros(9,
                                                 dtype=torch.int64)]), lengths=torch.ones(12, dtype=torch.int32))
    pooled = model.sparse(lookup)[:, :8]  # what the kernel now returns for rows 1, 3, 5 of t_f0
    torch.testing.assert_close(pooled, saved[0][rows])
    momentum = next(iter(optimizers.sparse[0].state_dict()["state"]["t_f0.weight"].values()))
    torch.testing.assert_close(momentum[rows], saved[1][rows])  # the kernel's optimiser state, reverted too
    assert not torch.equal(momentum[0::2], saved[1][0::2])       # shard 0 kept its updates


def test_access_counters_clear_per_row_and_small_tables_have_empty_shards() -> None:
    store = PartialCheckpointStore({"big": [torch.zeros(10, 2)], "tiny": [torch.zeros(3, 2)]}, shards=8)
    store.record_access("big", torch.tensor([1, 1, 2, 9]))
    assert store.clear_access("big", torch.tensor([1])) == 2
    assert store.access_counts("big").tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    assert store.clear_access("big") == 2 and int(store.access_counts("big").sum()) == 0
    assert store.shard_rows("tiny", 5).numel() == 0 and store.shard_rows("tiny", 2).tolist() == [2]
