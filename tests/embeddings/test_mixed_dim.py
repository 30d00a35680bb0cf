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


# Criteo Kaggle's 26 table sizes (facebookresearch/dlrm on the full train.txt, no --max-ind-range).
KAGGLE = [1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27, 14992, 5461306,
          10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572]


def test_table_dims_equal_the_official_md_solver_on_criteo_kaggle() -> None:
    # Official md_solver(n, alpha=0.3, d0=16): the smallest table of all (n = 3) keeps 16 and anchors
    # lambda = 16 * 3^0.3; d(n) = 16 * (3 / n)^0.3, then max(1, d) rounded to an integer. By hand:
    #   n=4: 16 * 0.75^0.3 = 16 * 0.91730 = 14.677 -> 15      n=10: 16 * 0.3^0.3 = 16 * 0.69685 = 11.150 -> 11
    #   n=15: 16 * 0.2^0.3 = 9.873 -> 10                      n=18: 16 * (1/6)^0.3 = 9.347 -> 9
    #   n=24: 16 * 0.125^0.3 = 16 * 0.53589 = 8.574 -> 9      n=27: 16 * (1/9)^0.3 = 8.277 -> 8
    #   n=105: 16 * (1/35)^0.3 = 5.507 -> 6                   n=305: 3.99914 -> 4
    #   n=583: 3.293 -> 3; n=633: 3.212 -> 3; n=1460: 2.50006 -> 3 (just above the half)
    #   n=2173: 2.219 -> 2; n=3194: 1.977 -> 2; n=5652: 1.6657 -> 2; n=5683: 1.6630 -> 2
    #   n=12517: 1.312 -> 1; n=14992: 1.243 -> 1; every larger table is below 1 -> 1.
    # (Both lists were also printed by the official tricks/md_embedding_bag.py, facebookresearch/dlrm
    # commit 090956e, run outside the project: identical.)
    expected = [3, 3, 1, 1, 4, 9, 1, 3, 16, 1, 2, 1, 2, 8, 1, 1, 11, 2, 2, 15, 1, 9, 10, 1, 6, 1]
    assert table_dims(KAGGLE, alpha=0.3, base_dim=16) == expected
    # --md-round-dims: each integer width to the nearest power of two, 2^round(log2 d):
    #   3 -> 2^round(1.585) = 4; 6 -> 2^round(2.585) = 8; 9, 10, 11 -> 2^3 = 8; 15 -> 2^round(3.907) = 16.
    # Rounding to an integer first matters: n=105 gives 5.507 -> 6 -> 8, where 2^round(log2 5.507) = 4;
    # n=1460 gives 2.50006 -> 3 -> 4, where 2^round(log2 2.50006) = 2.
    pow2 = [4, 4, 1, 1, 4, 8, 1, 4, 16, 1, 2, 1, 2, 8, 1, 1, 8, 2, 2, 16, 1, 8, 8, 1, 8, 1]
    assert table_dims(KAGGLE, alpha=0.3, base_dim=16, round_pow2=True) == pow2
    # --md-threshold 200: the anchor stays the smallest table of ALL tables (n = 3), so the large
    # tables keep their widths above (n=305 -> 4, not 16 as an anchor on the smallest table above
    # 200 would give); the tables at or below 200 rows are built at max(dims) = 16.
    small = {3, 4, 10, 15, 18, 24, 27, 105}
    assert table_dims(KAGGLE, alpha=0.3, base_dim=16, threshold=200) == [
        16 if n in small else d for n, d in zip(KAGGLE, expected)]


def test_alpha_zero_keeps_every_table_at_the_base_width() -> None:
    assert table_dims(KAGGLE, alpha=0.0, base_dim=16, round_pow2=True) == [16] * 26


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
