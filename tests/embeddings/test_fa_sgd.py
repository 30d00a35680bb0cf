"""Frequency-aware SGD: equal frequencies give SGD; rare rows take larger steps; optimizer memory."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from harness.embeddings.memory import optimizer_state_nbytes
from harness.optim.fa_sgd import FrequencyAwareSGD


def _train(table: nn.EmbeddingBag, optimizer: torch.optim.Optimizer, batches: list[torch.Tensor]) -> None:
    for ids in batches:
        optimizer.zero_grad()
        table(ids, torch.arange(0, len(ids), 2)).pow(2).sum().backward()
        optimizer.step()


@pytest.mark.parametrize("sparse", [True, False])
def test_uniform_frequencies_equal_sgd(sparse: bool) -> None:
    torch.manual_seed(0)
    base = nn.EmbeddingBag(12, 4, mode="sum", sparse=sparse)
    batches = [torch.randint(0, 12, (8,)) for _ in range(5)]
    sgd_table, fa_table = copy.deepcopy(base), copy.deepcopy(base)
    _train(sgd_table, torch.optim.SGD(sgd_table.parameters(), lr=0.05), batches)
    _train(fa_table, FrequencyAwareSGD(fa_table.parameters(), lr=0.05, frequency=torch.full((12,), 0.3)), batches)
    torch.testing.assert_close(fa_table.weight, sgd_table.weight)


def test_counter_with_every_row_every_step_equals_sgd() -> None:
    torch.manual_seed(0)
    base = nn.EmbeddingBag(6, 4, mode="sum", sparse=True)
    batches = [torch.randperm(6) for _ in range(4)]
    sgd_table, cf_table = copy.deepcopy(base), copy.deepcopy(base)
    _train(sgd_table, torch.optim.SGD(sgd_table.parameters(), lr=0.05), batches)
    _train(cf_table, FrequencyAwareSGD(cf_table.parameters(), lr=0.05, frequency="counter"), batches)
    torch.testing.assert_close(cf_table.weight, sgd_table.weight)


def test_rare_rows_take_larger_steps() -> None:
    table = nn.EmbeddingBag(2, 1, mode="sum", sparse=True)
    with torch.no_grad():
        table.weight.fill_(1.0)
    optimizer = FrequencyAwareSGD(table.parameters(), lr=0.1, frequency=torch.tensor([0.64, 0.01]))
    table(torch.tensor([0, 1]), torch.tensor([0, 1])).sum().backward()
    optimizer.step()
    assert table.weight[0].item() == pytest.approx(1 - 0.1)
    assert table.weight[1].item() == pytest.approx(1 - 0.1 * 8)  # sqrt(0.64 / 0.01) = 8


def test_counter_state_is_one_float_per_row() -> None:
    table = nn.EmbeddingBag(1000, 16, mode="sum", sparse=True)
    optimizer = FrequencyAwareSGD(table.parameters(), lr=0.1, frequency="counter")
    _train(table, optimizer, [torch.randint(0, 1000, (64,))])
    adagrad_table = copy.deepcopy(table)
    adagrad = torch.optim.Adagrad(adagrad_table.parameters(), lr=0.1)
    _train(adagrad_table, adagrad, [torch.randint(0, 1000, (64,))])
    assert optimizer_state_nbytes(optimizer) == 1000 * 4
    assert optimizer_state_nbytes(adagrad) == 1000 * 16 * 4


def test_mismatched_frequency_is_rejected() -> None:
    with pytest.raises(ValueError, match="rows"):
        FrequencyAwareSGD(nn.EmbeddingBag(5, 2).parameters(), lr=0.1, frequency=torch.ones(4))
