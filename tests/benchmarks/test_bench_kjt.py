"""KeyedJaggedTensor construction: the per-batch cost of handing sparse features to TorchRec.

Every batch of a DLRM-family model becomes one KJT (keys x batch lengths, flat values). Sizes
follow Criteo's 26 categorical features: one id per feature (one-hot, as in the Criteo logs) and
a multi-hot pooling of ~20 ids per feature (the synthetic setting of the DLRM paper, Sec. 6).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

NUM_FEATURES = 26
KEYS = [f"f{i}" for i in range(NUM_FEATURES)]


def jagged_inputs(batch_size: int, mean_ids: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Lengths ``[features * batch]`` (key-major, as KJT wants them) and the flat id values."""
    rng = np.random.default_rng(seed)
    if mean_ids == 1:
        lengths = np.ones(NUM_FEATURES * batch_size, dtype=np.int32)
    else:
        lengths = rng.poisson(mean_ids, NUM_FEATURES * batch_size).astype(np.int32)
    values = rng.integers(0, 10_000_000, int(lengths.sum()), dtype=np.int64)
    return torch.from_numpy(lengths), torch.from_numpy(values)


SIZES = [pytest.param(b, m, id=f"batch{b}-ids{m}") for b in (512, 8192) for m in (1, 20)]


@pytest.mark.benchmark(group="kjt")
@pytest.mark.parametrize(("batch_size", "mean_ids"), SIZES)
def test_from_lengths_sync(benchmark, batch_size: int, mean_ids: int) -> None:
    """``from_lengths_sync`` plus the offsets and per-key lengths an EmbeddingBagCollection reads."""
    lengths, values = jagged_inputs(batch_size, mean_ids)

    def build() -> KeyedJaggedTensor:
        kjt = KeyedJaggedTensor.from_lengths_sync(keys=KEYS, values=values, lengths=lengths)
        kjt.offsets()
        kjt.length_per_key()
        return kjt

    kjt = benchmark(build)
    assert kjt.stride() == batch_size
    assert int(kjt.offsets()[-1]) == values.numel()


@pytest.mark.benchmark(group="kjt")
@pytest.mark.parametrize(("batch_size", "mean_ids"), SIZES)
def test_to_dict(benchmark, batch_size: int, mean_ids: int) -> None:
    """Splitting a KJT into one JaggedTensor per key (what per-feature code paths do)."""
    lengths, values = jagged_inputs(batch_size, mean_ids)

    def fresh() -> tuple[tuple[KeyedJaggedTensor], dict]:
        # A KJT caches its split: every round needs a new one.
        return (KeyedJaggedTensor.from_lengths_sync(keys=KEYS, values=values, lengths=lengths),), {}

    per_key = benchmark.pedantic(KeyedJaggedTensor.to_dict, setup=fresh, rounds=20)
    assert list(per_key) == KEYS
    assert sum(jt.values().numel() for jt in per_key.values()) == values.numel()
