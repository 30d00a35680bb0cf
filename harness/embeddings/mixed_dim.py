"""Mixed-dimension (MD) embeddings: popularity-dependent widths projected to a common base width.

Reference: A. Ginart, M. Naumov, D. Mudigere, J. Yang, J. Zou, "Mixed Dimension Embeddings with
Application to Memory-Efficient Recommendation Systems", arXiv:1909.11810 (ISIT'21), Sec. 3
(block structure, the alpha power "temperature" rule, power-of-2 rounding).

Rows are grouped into blocks; block ``i`` with popularity ``p_i`` gets width
``d_i = lambda * p_i ** alpha``, anchored so that the most popular block keeps the base width
(``lambda = d0 * max(p) ** -alpha``) or chosen to fit a parameter budget ``B``
(``lambda = B / sum_i n_i * p_i ** alpha`` with ``n_i`` rows in block ``i``). ``alpha = 0`` gives
uniform widths. A narrow block is followed by a bias-free linear projection to the base width.

For CTR (Criteo) each table is one block with ``p_i = 1 / n_i`` (facebookresearch/dlrm
``tricks/md_embedding_bag.py``: ``md_solver`` sorts tables by rows, the smallest keeps ``d0``;
:func:`table_dims` follows it exactly);
for collaborative filtering the rows of one table are sorted by frequency and cut into ``k``
blocks of equal popularity mass (paper Sec. 3; k in 8..16). :func:`alpha_power_dims` covers both.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from harness.embeddings.bags import flatten_bags, pool_rows


def alpha_power_dims(popularity: Sequence[float], alpha: float, rows: Sequence[int] | None = None,
                     base_dim: int | None = None, budget: float | None = None,
                     round_pow2: bool = False, max_dim: int | None = None) -> list[int]:
    """Width of each block by the alpha power rule (Ginart et al., Sec. 3).

    `popularity` is the per-query probability of each block's rows (for a whole table, ``1 / n``);
    give either `base_dim` (the most popular block keeps it) or `budget` (total parameters
    ``sum rows_i * d_i``, which needs `rows`). Widths are rounded to integers (to powers of 2 with
    `round_pow2`), at least 1 and at most `max_dim` (default `base_dim`; the budget form may
    otherwise give popular blocks more than the projection's target width).
    """
    p = torch.as_tensor(popularity, dtype=torch.float64)
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    if (p <= 0).any():
        raise ValueError("every block needs a positive popularity")
    if base_dim is not None:
        dims = base_dim * (p / p.max()) ** alpha
    elif budget is not None and rows is not None:
        n = torch.as_tensor(rows, dtype=torch.float64)
        dims = budget / torch.sum(n * p**alpha) * p**alpha
    else:
        raise ValueError("give base_dim, or budget together with rows")
    if round_pow2:
        dims = 2 ** torch.round(torch.log2(dims.clamp(min=1.0)))
    dims = torch.round(dims).clamp(min=1)
    cap = max_dim if max_dim is not None else base_dim
    if cap is not None:
        dims = dims.clamp(max=cap)
    return [int(d) for d in dims]


def table_dims(num_embeddings: Sequence[int], alpha: float, base_dim: int, round_pow2: bool = False,
               threshold: int = 0) -> list[int]:
    """Per-table widths for CTR models, equal to facebookresearch/dlrm's ``md_solver`` with ``d0``.

    The official rule (``tricks/md_embedding_bag.py``: ``md_solver`` / ``alpha_power_rule``, called
    from ``dlrm_s_pytorch.py`` over all tables): sort the tables by rows; the smallest table of all
    keeps ``d0 = base_dim`` and anchors ``lambda = d0 * n_min ** alpha``; every other table gets
    ``max(1, lambda * n ** -alpha)`` rounded to an integer; then, with `round_pow2`
    (``--md-round-dims``), each width is rounded to the nearest power of two
    (``2 ** round(log2(d))``). The arithmetic is in float32 as there. Tables with at most
    `threshold` rows (``--md-threshold``) are built at the largest width, ``max(dims)``, as in
    ``DLRM_Net.create_emb`` (``_m = m[i] if n > md_threshold else base``).
    """
    if not num_embeddings:
        return []
    n = torch.as_tensor(list(num_embeddings), dtype=torch.float32)
    order = torch.argsort(n, stable=True)
    sorted_n = n[order]
    lamb = base_dim * sorted_n[0] ** alpha
    dims = lamb * sorted_n ** -alpha
    dims[0] = base_dim
    dims = torch.round(dims.clamp(min=1.0))
    if round_pow2:
        dims = 2 ** torch.round(torch.log2(dims))
    widths = torch.empty_like(dims)
    widths[order] = dims
    base = int(widths.max())
    return [int(d) if rows > threshold else base for d, rows in zip(widths.tolist(), num_embeddings)]


def frequency_blocks(counts: torch.Tensor, num_blocks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut rows sorted by decreasing count into `num_blocks` blocks of about equal popularity mass.

    Returns ``(block_of_row, popularity_of_block)``: the block id of every row (0 = most popular)
    and each block's mean per-row probability (its share of all counts divided by its rows), the
    ``p_i`` of the alpha rule. Rows never seen get a count of 1 so that every block is non-empty
    in popularity. This is the CF blocking of Ginart et al. Sec. 3.
    """
    if num_blocks < 1 or num_blocks > counts.numel():
        raise ValueError(f"num_blocks must lie in [1, {counts.numel()}], got {num_blocks}")
    smoothed = counts.double().clamp(min=1.0)
    order = torch.argsort(smoothed, descending=True, stable=True)
    mass = torch.cumsum(smoothed[order], 0) / smoothed.sum()
    sorted_block = torch.clamp((mass * num_blocks).ceil().long() - 1, 0, num_blocks - 1)
    # Guarantee non-empty, ordered blocks even when one row holds more than 1/k of the mass.
    sorted_block = torch.minimum(sorted_block, torch.arange(counts.numel()))
    sorted_block = torch.maximum(sorted_block, num_blocks - counts.numel() + torch.arange(counts.numel()))
    sorted_block = torch.cummax(sorted_block, 0).values
    block_of_row = torch.empty_like(sorted_block)
    block_of_row[order] = sorted_block
    total = smoothed.sum()
    popularity = torch.stack([smoothed[block_of_row == b].mean() / total for b in range(num_blocks)])
    return block_of_row, popularity.float()


class ProjectedEmbeddingBag(nn.Module):
    """A table of width `embedding_dim` followed by a bias-free projection to `base_dim`.

    The per-table MD block of dlrm's ``PrEmbeddingBag`` (Xavier-uniform table and projection; no
    projection when the width already equals `base_dim`).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, base_dim: int, mode: str = "sum",
                 sparse: bool = False, device: torch.device | str | None = None) -> None:
        super().__init__()
        if embedding_dim > base_dim:
            raise ValueError(f"embedding_dim {embedding_dim} exceeds base_dim {base_dim}")
        self.embs = nn.EmbeddingBag(num_embeddings, embedding_dim, mode=mode, sparse=sparse, device=device)
        nn.init.xavier_uniform_(self.embs.weight)
        self.proj: nn.Module = nn.Identity()
        if embedding_dim < base_dim:
            self.proj = nn.Linear(embedding_dim, base_dim, bias=False, device=device)
            nn.init.xavier_uniform_(self.proj.weight)

    def forward(self, input: torch.Tensor, offsets: torch.Tensor | None = None,
                per_sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Pool at the narrow width, then project: ``[bags, base_dim]``."""
        return self.proj(self.embs(input, offsets, per_sample_weights))


class MixedDimEmbeddingBag(nn.Module):
    """One table whose rows live in blocks of different widths, all projected to `base_dim`.

    `block_of_row[i]` is row ``i``'s block and `dims[b]` block ``b``'s width (from
    :func:`frequency_blocks` and :func:`alpha_power_dims`). Each block is its own ``nn.Embedding``
    of the block's rows plus a bias-free projection (none for full-width blocks); a lookup embeds
    each id in its block, projects it, then sums (or averages) per bag. Used for the collaborative
    filtering experiments of Ginart et al. (blocks inside the user and item tables).
    """

    block_of_row: torch.Tensor
    local_row: torch.Tensor

    def __init__(self, block_of_row: torch.Tensor, dims: Sequence[int], base_dim: int, mode: str = "sum",
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        if mode not in ("sum", "mean"):
            raise ValueError(f"mode must be 'sum' or 'mean', got {mode!r}")
        block_of_row = block_of_row.long().cpu()
        num_blocks = len(dims)
        if block_of_row.min() < 0 or block_of_row.max() >= num_blocks:
            raise ValueError(f"block ids must lie in [0, {num_blocks}); dims has {num_blocks} entries")
        self.num_embeddings, self.base_dim, self.mode = block_of_row.numel(), base_dim, mode
        local = torch.zeros_like(block_of_row)
        for b in range(num_blocks):
            rows = block_of_row == b
            local[rows] = torch.arange(int(rows.sum()))
        self.register_buffer("block_of_row", block_of_row.to(device))
        self.register_buffer("local_row", local.to(device))
        self.blocks = nn.ModuleList(
            ProjectedBlock(int((block_of_row == b).sum()), d, base_dim, device) for b, d in enumerate(dims))

    def forward(self, input: torch.Tensor, offsets: torch.Tensor | None = None,
                per_sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Embed every id in its block at `base_dim`, then pool per bag: ``[bags, base_dim]``."""
        input, offsets = flatten_bags(input, offsets)
        block, local = self.block_of_row[input], self.local_row[input]
        values = torch.zeros(input.numel(), self.base_dim, device=input.device, dtype=next(self.blocks.parameters()).dtype)
        for b, module in enumerate(self.blocks):
            mask = block == b
            if mask.any():
                values[mask] = module(local[mask])
        return pool_rows(values, offsets, self.mode, per_sample_weights)


class ProjectedBlock(nn.Module):
    """One MD block: an ``nn.Embedding`` of width `dim` and its bias-free projection to `base_dim`."""

    def __init__(self, rows: int, dim: int, base_dim: int, device: torch.device | str | None = None) -> None:
        super().__init__()
        if dim > base_dim:
            raise ValueError(f"block width {dim} exceeds base_dim {base_dim}")
        self.embedding = nn.Embedding(rows, dim, device=device)
        nn.init.xavier_uniform_(self.embedding.weight)
        self.proj: nn.Module = nn.Identity()
        if dim < base_dim:
            self.proj = nn.Linear(dim, base_dim, bias=False, device=device)
            nn.init.xavier_uniform_(self.proj.weight)

    @property
    def weight(self) -> torch.Tensor:
        """The block's embedding rows."""
        return self.embedding.weight

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """``[n] -> [n, base_dim]``."""
        return self.proj(self.embedding(rows))
