"""Mixed-dimension embeddings: the alpha rule, blocking, and the uniform-width degenerate case."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.embeddings.memory import parameter_count
from harness.embeddings.mixed_dim import (MixedDimEmbeddingBag, ProjectedEmbeddingBag, alpha_power_dims,
                                                frequency_blocks, table_dims)


def test_alpha_zero_gives_uniform_widths() -> None:
    assert table_dims([10, 1_000, 1_000_000], alpha=0.0, base_dim=16) == [16, 16, 16]


def test_alpha_rule_matches_dlrm_md_solver() -> None:
    # dlrm md_solver: d_i = round(d0 * (n_0 / n_i) ** alpha), smallest table keeps d0.
    rows = [1_000, 100, 100_000]
    expected = [round(16 * (100 / n) ** 0.3) for n in rows]
    assert table_dims(rows, alpha=0.3, base_dim=16) == expected
    assert table_dims(rows, alpha=0.3, base_dim=16, round_pow2=True) == [8, 16, 2]
    assert table_dims([50, 1_000], alpha=0.3, base_dim=16, threshold=200) == [16, 16]


def test_budget_form_spends_the_budget() -> None:
    rows = [100, 1_000, 10_000]
    dims = alpha_power_dims([1 / n for n in rows], alpha=0.2, rows=rows, budget=64_000)
    assert sum(n * d for n, d in zip(rows, dims)) == pytest.approx(64_000, rel=0.1)
    assert dims == sorted(dims, reverse=True)


def test_uniform_widths_equal_a_plain_table() -> None:
    plain = nn.EmbeddingBag(30, 8, mode="sum")
    md = ProjectedEmbeddingBag(30, 8, base_dim=8)
    assert isinstance(md.proj, nn.Identity)
    md.embs.load_state_dict(plain.state_dict())
    ids, offsets = torch.randint(0, 30, (40,)), torch.arange(0, 40, 4)
    torch.testing.assert_close(md(ids, offsets), plain(ids, offsets))


def test_uniform_blocks_equal_a_plain_table() -> None:
    counts = torch.randint(0, 100, (50,))
    block_of_row, _ = frequency_blocks(counts, 4)
    md = MixedDimEmbeddingBag(block_of_row, [8, 8, 8, 8], base_dim=8)
    plain = nn.EmbeddingBag(50, 8, mode="sum")
    with torch.no_grad():
        for b, block in enumerate(md.blocks):
            block.weight.copy_(plain.weight[block_of_row == b])
    ids, offsets = torch.randint(0, 50, (40,)), torch.arange(0, 40, 4)
    torch.testing.assert_close(md(ids, offsets), plain(ids, offsets))
    assert parameter_count(md) == parameter_count(plain)


def test_frequency_blocks_have_equal_mass_and_decreasing_popularity() -> None:
    counts = torch.tensor([400, 200, 100, 100, 50, 50, 50, 50] + [1] * 100)
    block_of_row, popularity = frequency_blocks(counts, 4)
    assert block_of_row[0] == 0 and block_of_row[-1] == 3
    assert torch.all(popularity[:-1] >= popularity[1:])
    assert set(block_of_row.tolist()) == {0, 1, 2, 3}


def test_narrow_blocks_cut_parameters() -> None:
    counts = torch.arange(1000, 0, -1)
    block_of_row, popularity = frequency_blocks(counts, 8)
    dims = alpha_power_dims(popularity.tolist(), alpha=0.4, base_dim=32)
    md = MixedDimEmbeddingBag(block_of_row, dims, base_dim=32)
    assert dims[0] == 32 and dims[-1] < 32
    assert parameter_count(md) < 1000 * 32
    out = md(torch.tensor([0, 999, 500]), torch.tensor([0, 1]))
    assert out.shape == (2, 32)
    out.sum().backward()
