"""harness.cluster.exchange: table blocks, the exchange byte formula, differentiable collectives, bytes by link."""

from __future__ import annotations

import pytest
import torch

from harness.cluster.comm import ByteCounter, count_collectives
from harness.cluster.exchange import blocks, exchange, one_process_group, replicated_sum, table_wise_exchange_bytes
from harness.errors import ConfigError


def test_blocks_are_contiguous_and_balanced() -> None:
    assert blocks(26, 4) == [range(0, 7), range(7, 14), range(14, 20), range(20, 26)]
    with pytest.raises(ConfigError, match="at least one feature per rank"):
        blocks(2, 3)


def test_table_wise_exchange_bytes_by_hand() -> None:
    # batch 8, 4 features of width 3: 8 x 4 x 3 x 4 bytes of vectors each way, 8 x 4 x 8 bytes of ids
    assert table_wise_exchange_bytes(8, 4, 3, 2) == {"pooled": 384.0, "pooled_grad": 384.0, "ids": 256.0}
    with pytest.raises(ConfigError, match="multiple of the world size"):
        table_wise_exchange_bytes(7, 4, 3, 2)


def test_replicated_sum_and_exchange_on_one_rank() -> None:
    x = torch.arange(6.0, requires_grad=True)
    with one_process_group():
        counter = ByteCounter()
        with count_collectives(counter):
            total = replicated_sum(x * 2)
            moved = exchange(x.view(3, 2), [3], [3])
            (total.sum() + 3 * moved.sum()).backward()
    assert torch.equal(total, 2 * torch.arange(6.0)) and torch.equal(moved, x.detach().view(3, 2))
    assert torch.equal(x.grad, torch.full((6,), 5.0))  # 2 through the identity backward, 3 through the exchange's
    assert counter.calls() == {"all_reduce": 1, "all_to_all": 2}  # the exchange's backward is counted too
    assert [r.sent for r in counter.records if r.collective == "all_to_all"] == [(24,), (24,)]


def test_wire_by_link_splits_all_to_all_by_destination() -> None:
    counter = ByteCounter()
    counter.record("all_to_all", 40, 4, ranks=(0, 1, 2, 3), source=1, sent=(10, 10, 5, 15))
    counter.record("all_reduce", 100, 2, ranks=(2, 3), source=2)  # one host
    counter.record("all_reduce", 100, 2, ranks=(1, 3), source=1)  # peers across hosts
    assert counter.records[0].wire_bytes == 30  # its own 10 bytes stay local
    assert counter.wire_by_link(2) == {"intra": 10 + 100.0, "inter": 20 + 100.0}
    unranked = ByteCounter()
    unranked.record("all_reduce", 8, 2)
    with pytest.raises(ConfigError, match="inside a process group"):
        unranked.wire_by_link(1)
