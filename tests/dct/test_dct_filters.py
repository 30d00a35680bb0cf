"""DCT's threshold operator, its DP exchange and MP boundary filter, and their byte counts against hand-computed values."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from dct_exchange_cases import KEEP, PERIOD, SIZE, STEPS, gradient
from harness.cluster.comm import ByteCounter
from harness.errors import ConfigError
from papers.dct.dct import (BoundaryThreshold, GradientExchange, ThresholdCompressor, hard_threshold, kept_count,
                            kth_largest_magnitude, mp_bytes, sparse_message_bytes)
from papers.dct.experiment import pushed_bytes

HERE = Path(__file__).resolve().parent


def test_threshold_is_the_kth_largest_magnitude_and_the_filter_keeps_what_reaches_it() -> None:
    values = torch.tensor([0.1, -3.0, 2.0, 0.5, -0.2])
    assert kept_count(5, 0.4) == 2 and kept_count(1000, 0.005) == 5 and kept_count(3, 0.01) == 1
    tau = kth_largest_magnitude(values, 0.4)
    assert tau == 2.0
    index, kept = hard_threshold(values, tau)
    assert index.dtype == torch.int32 and index.tolist() == [1, 2] and kept.tolist() == [-3.0, 2.0]
    with pytest.raises(ConfigError, match="keep fraction"):
        kept_count(10, 0.0)


def test_threshold_is_reused_between_refreshes_and_error_feedback_keeps_the_rest() -> None:
    compressor = ThresholdCompressor(4, keep=0.25, period=2, error_feedback=True)
    index, values = compressor.compress(torch.tensor([1.0, -4.0, 2.0, 0.5]))
    assert compressor.tau == 4.0 and index.tolist() == [1] and values.tolist() == [-4.0]
    assert compressor.residual.tolist() == [1.0, 0.0, 2.0, 0.5]
    # second step: tau stays 4; accumulated = [4, 0, 3, 0.5] -> entry 0 reaches it
    index, values = compressor.compress(torch.tensor([3.0, 0.0, 1.0, 0.0]))
    assert compressor.tau == 4.0 and index.tolist() == [0] and values.tolist() == [4.0]
    assert compressor.residual.tolist() == [0.0, 0.0, 3.0, 0.5]
    # third step: refresh on the accumulated gradient [0, 1, 3, 0.5] -> tau 3
    index, _ = compressor.compress(torch.tensor([0.0, 1.0, 0.0, 0.0]))
    assert compressor.tau == 3.0 and index.tolist() == [2]
    plain = ThresholdCompressor(4, keep=0.25, period=1, error_feedback=False)
    plain.compress(torch.tensor([1.0, -4.0, 2.0, 0.5]))
    assert plain.residual.tolist() == [0.0] * 4


def test_virtual_exchange_means_and_byte_counts_by_hand() -> None:
    counter = ByteCounter()
    exchange = GradientExchange(4, 2, counter, keep=0.25, period=1)
    mean = exchange.virtual([torch.tensor([1.0, -4.0, 2.0, 0.5]), torch.tensor([0.0, 0.0, 3.0, 1.0])])
    assert mean.tolist() == [0.0, -2.0, 1.5, 0.0]
    # per worker: its 8-byte count in one all-gather, then one (int32 index, float32 value) pair
    assert counter.calls() == {"all_gather": 1, "broadcast": 2}
    assert pushed_bytes(counter, "") == 2 * 8 + 2 * 8 == 2 * sparse_message_bytes(1)
    assert exchange.tally.values_sent == 2 and exchange.tally.dense_values == 8
    dense_counter = ByteCounter()
    dense = GradientExchange(4, 2, dense_counter)
    mean = dense.virtual([torch.tensor([1.0, -4.0, 2.0, 0.5]), torch.tensor([0.0, 0.0, 3.0, 1.0])])
    assert mean.tolist() == [0.5, -2.0, 2.5, 0.75]
    assert pushed_bytes(dense_counter, "") == 2 * 4 * 4 and dense.tally.values_sent == 8
    with pytest.raises(ConfigError, match="2 workers"):
        dense.virtual([torch.zeros(4)])


def test_boundary_filter_masks_forward_and_backward_and_counts_entries() -> None:
    boundary = BoundaryThreshold(keep=0.25, period=10)
    activations = torch.tensor([[4.0, -1.0, 0.5, 0.1], [0.2, 3.0, -0.3, 2.0]], requires_grad=True)
    out = boundary(activations)
    assert boundary.tau == 3.0  # K = ceil(0.25 x 8) = 2: the second largest magnitude
    assert out.tolist() == [[4.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0]]
    out.sum().backward()
    assert activations.grad is not None and activations.grad.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0]]
    assert (boundary.kept_entries, boundary.dense_entries, boundary.samples) == (2, 8, 2)
    # forward: per sample an int32 count, (int32, float32) per kept entry; backward: float32 per kept entry
    assert mp_bytes(2, 8, 2, compressed=True) == (2 * 4 + 2 * 8, 2 * 4)
    assert mp_bytes(8, 8, 2, compressed=False) == (32, 32)
    boundary.eval()
    boundary.mask_at_eval = False
    assert torch.equal(boundary(activations), activations)
    topk = BoundaryThreshold(keep=0.5, mode="per_sample_topk")
    assert topk(torch.tensor([[1.0, -5.0, 2.0, 0.0]])).tolist() == [[0.0, -5.0, 2.0, 0.0]]


def _virtual_exchange(keep: float | None) -> tuple[list[torch.Tensor], int, int]:
    counter = ByteCounter()
    exchange = GradientExchange(SIZE, 2, counter, keep, PERIOD, error_feedback=True)
    means = [exchange.virtual([gradient(step, w) for w in range(2)]) for step in range(STEPS)]
    return means, pushed_bytes(counter, ""), exchange.tally.values_sent


@pytest.mark.slow
def test_gloo_exchange_moves_the_bytes_the_virtual_one_records(tmp_path: Path, torchrun: Callable[..., int]) -> None:
    out = tmp_path / "exchange.pt"
    torchrun(HERE / "dct_exchange_worker.py", str(out))
    real = torch.load(out)
    for keep in (KEEP, None):
        means, nbytes, values = _virtual_exchange(keep)
        assert real[str(keep)]["bytes"] == nbytes
        assert real[str(keep)]["values"] == values
        for a, b in zip(real[str(keep)]["means"], means):
            torch.testing.assert_close(a, b)
    # K = ceil(0.1 x 40) = 4 at each refresh (steps 0 and 2): exactly 4 (index, value) pairs per worker then
    assert _virtual_exchange(None)[1] == STEPS * 2 * SIZE * 4
