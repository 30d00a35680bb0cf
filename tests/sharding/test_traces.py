"""The streaming trace loader reads the dlrm_datasets layout (.pt and .pt.gz) and rejects bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from harness.errors import DataError
from harness.sharding.generator import SyntheticTables
from harness.sharding.traces import TraceFile, write_trace


@pytest.mark.parametrize("name", ["t.pt", "t.pt.gz"])
def test_round_trip_keeps_every_tables_batch(tmp_path: Path, name: str) -> None:
    pool = SyntheticTables(3, seed=1, feature_batch=32)
    batches = [pool.batch(t, 32) for t in range(3)]
    path = write_trace(tmp_path / name, batches)
    with TraceFile(path, workdir=tmp_path) as trace:
        assert (trace.num_tables, trace.batch_size) == (3, 32)
        for t, (indices, offsets) in enumerate(batches):
            got_i, got_o = trace.table_batch(t)
            assert torch.equal(got_i, indices) and torch.equal(got_o, offsets)
        head_i, head_o = trace.batch(1, 8)
        assert torch.equal(head_o, batches[1][1][:9]) and head_i.numel() == int(head_o[-1])
        features = list(trace.iter_tables(16, truncate_pooling=False))
        assert [f.raw_id for f in features] == [0, 1, 2]
    assert not any(p.name.startswith("trace-") for p in tmp_path.iterdir())  # decompressed copy removed


def test_truncated_gzip_is_a_data_error(tmp_path: Path, trace_path: Path) -> None:
    cut = tmp_path / "cut.pt.gz"
    cut.write_bytes(trace_path.read_bytes()[:5000])
    with pytest.raises(DataError, match="cut.pt.gz"):
        TraceFile(cut, workdir=tmp_path)


def test_wrong_layout_is_a_data_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt.gz"
    with gzip.open(bad, "wb") as handle:
        torch.save((torch.zeros(3), torch.tensor([0, 1, 2]), torch.ones(2, 2)), handle)
    with pytest.raises(DataError, match="offsets has 3 entries"):
        TraceFile(bad, workdir=tmp_path)
    with pytest.raises(DataError, match="not found"):
        TraceFile(tmp_path / "missing.pt")
