"""Quotient-remainder (QR) compositional embeddings and the hashing trick they are compared with.

Reference: H.-J. M. Shi, D. Mudigere, M. Naumov, J. Yang, "Compositional Embeddings Using
Complementary Partitions for Memory-Efficient Recommendation Systems", KDD 2020, arXiv:1909.02107,
Sec. 3 (the quotient-remainder trick) and Sec. 4 (operations concat/add/mult).

A table of ``n`` categories with ``c`` collisions keeps two small tables: a *quotient* table of
``ceil(n / c)`` rows indexed by ``i // c`` and a *remainder* table of ``c`` rows indexed by
``i % c`` (the sizes and roles of facebookresearch/dlrm ``tricks/qr_embedding_bag.py``). The two
pooled vectors are combined by element-wise product (the paper's default), sum or concatenation.
``(i // c, i % c)`` is a complementary partition, so every category gets a distinct pair of rows,
unlike the hashing trick (``i mod m`` only), where ``c`` categories share one vector.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Operation = Literal["mult", "add", "concat"]
OPERATIONS: tuple[str, ...] = ("mult", "add", "concat")


def qr_table_rows(num_embeddings: int, num_collisions: int) -> tuple[int, int]:
    """Rows of the (quotient, remainder) tables for `num_embeddings` categories at `num_collisions`."""
    if num_embeddings < 1 or num_collisions < 1:
        raise ValueError(f"need num_embeddings >= 1 and num_collisions >= 1, got {num_embeddings}, {num_collisions}")
    return math.ceil(num_embeddings / num_collisions), num_collisions


def hashing_buckets_at_budget(num_embeddings: int, num_collisions: int) -> int:
    """Buckets of a hashing-trick table with the same number of rows as QR at `num_collisions`.

    QR with ``c`` collisions stores ``ceil(n / c) + c`` rows of width D (mult/add); the hashing
    trick at an *equal parameter budget* gets exactly that many buckets (never more than ``n``).
    """
    quotient, remainder = qr_table_rows(num_embeddings, num_collisions)
    return min(num_embeddings, quotient + remainder)


class QREmbeddingBag(nn.Module):
    """Pooled QR compositional embedding of one categorical feature (Shi et al. 2020, Sec. 3-4).

    `embedding_dim` is the output width. For ``"concat"`` each partition gets half of it (our
    choice, so that the output width stays `embedding_dim` and the dense part is unchanged; the
    official code concatenates two full-width vectors and doubles the dense width instead).

    `official_init` reproduces facebookresearch/dlrm's initialisation of both tables,
    ``nn.init.uniform_(w, sqrt(1/n))``, i.e. U[sqrt(1/n), 1] (all positive, which keeps products
    of the ``"mult"`` operation away from zero); otherwise U[-sqrt(1/n), sqrt(1/n)] like DLRM's
    plain tables.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, num_collisions: int,
                 operation: Operation = "mult", mode: str = "sum", sparse: bool = False,
                 official_init: bool = True, device: torch.device | str | None = None) -> None:
        super().__init__()
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}, got {operation!r}")
        if operation == "concat" and embedding_dim % 2:
            raise ValueError(f"operation 'concat' splits embedding_dim in two halves; {embedding_dim} is odd")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.num_collisions, self.operation = num_collisions, operation
        self.mode, self.sparse = mode, sparse
        rows_q, rows_r = qr_table_rows(num_embeddings, num_collisions)
        part_dim = embedding_dim // 2 if operation == "concat" else embedding_dim
        self.weight_q = nn.Parameter(torch.empty(rows_q, part_dim, device=device))
        self.weight_r = nn.Parameter(torch.empty(rows_r, part_dim, device=device))
        self.reset_parameters(official_init)

    def reset_parameters(self, official_init: bool = True) -> None:
        """Initialise both tables (see the class docstring for the two schemes)."""
        bound = math.sqrt(1.0 / self.num_embeddings)
        low, high = (bound, 1.0) if official_init else (-bound, bound)
        with torch.no_grad():
            self.weight_q.uniform_(low, high)
            self.weight_r.uniform_(low, high)

    def forward(self, input: torch.Tensor, offsets: torch.Tensor | None = None,
                per_sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Pool the quotient and remainder embeddings of each bag, then combine them: ``[bags, dim]``."""
        quotient = torch.div(input, self.num_collisions, rounding_mode="floor")
        remainder = torch.remainder(input, self.num_collisions)
        embed_q = F.embedding_bag(quotient, self.weight_q, offsets, mode=self.mode, sparse=self.sparse,
                                  per_sample_weights=per_sample_weights)
        embed_r = F.embedding_bag(remainder, self.weight_r, offsets, mode=self.mode, sparse=self.sparse,
                                  per_sample_weights=per_sample_weights)
        if self.operation == "mult":
            return embed_q * embed_r
        if self.operation == "add":
            return embed_q + embed_r
        return torch.cat((embed_q, embed_r), dim=1)

    def extra_repr(self) -> str:
        return (f"{self.num_embeddings}, {self.embedding_dim}, collisions={self.num_collisions}, "
                f"operation={self.operation}, rows=({self.weight_q.shape[0]}, {self.weight_r.shape[0]})")


class HashedEmbeddingBag(nn.EmbeddingBag):
    """The hashing trick: category ``i`` uses row ``i mod num_buckets`` (the QR paper's baseline).

    Categories are already dense integer ids, so the modulo is the hash (as in the paper's
    comparison and in facebookresearch/dlrm's ``--max-ind-range``). Initialised U[-sqrt(1/n), sqrt(1/n)]
    over the bucket count, like DLRM's plain tables.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, num_buckets: int, mode: str = "sum",
                 sparse: bool = False, device: torch.device | str | None = None) -> None:
        if not 1 <= num_buckets:
            raise ValueError(f"num_buckets must be >= 1, got {num_buckets}")
        super().__init__(num_buckets, embedding_dim, mode=mode, sparse=sparse, device=device)
        self.num_categories = num_embeddings
        bound = math.sqrt(1.0 / num_buckets)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)

    def forward(self, input: torch.Tensor, offsets: torch.Tensor | None = None,
                per_sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Pool the embeddings of the hashed ids of each bag: ``[bags, dim]``."""
        return super().forward(torch.remainder(input, self.num_embeddings), offsets, per_sample_weights)
