"""Post-training row-wise 4-bit quantization of embedding tables: min/max, greedy range search, codebook.

Reference: H. Guan, A. Malevich, J. Yang, J. Park, H. Yuen, "Post-Training 4-bit Quantization on
Embedding Tables", NeurIPS'19 MLSys workshop, arXiv:1911.02079 (row-wise uniform quantization with
greedy range search; codebook quantization by k-means).

*Uniform* (asymmetric) quantization stores each row as 4-bit codes ``q = round((x - xmin) / scale)``
with ``scale = (xmax - xmin) / 15`` and FP16 ``scale`` and ``bias = xmin``: the fused row-wise
format of PyTorch/FBGEMM (``embedding_bag_4bit_prepack``: ``d / 2`` code bytes, then FP16 scale,
then FP16 bias). The range ``[xmin, xmax]`` is either the row's min/max (the naive baseline) or
found by the paper's greedy search, implemented here exactly as PyTorch's numpy reference
``caffe2/python/operator_test/fused_nbit_rowwise_test_helper.py::param_search_greedy`` (the C++ op
``embedding_bag_4bit_prepack(optimized_qparams=True)`` uses 200 bins and ratio 0.16), vectorised over
rows. Quantized tables are served by the fused CPU/GPU lookup
``torch.ops.quantized.embedding_bag_4bit_rowwise_offsets``.

*Codebook* quantization fits 16 centroids per row by k-means (Lloyd, started from the 16 uniform
min/max levels, so its error never exceeds min/max's before FP16 rounding) and stores 4-bit
indices plus a FP16 codebook per row. No fused op exists for it; :class:`CodebookEmbeddingBag`
dequantizes the looked-up rows in PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harness.embeddings.bags import bag_lengths, flatten_bags, pool_rows

BIT_RATE = 4
LEVELS = 2**BIT_RATE - 1  # codes 0..15
GREEDY_BINS = 200  # PyTorch's default n_bins for optimized_qparams
GREEDY_RATIO = 0.16  # PyTorch's default ratio: search down to 84% of the min/max range
_MODES = {"sum": 0, "mean": 1}


@dataclass
class RowwiseQuantized:
    """Row-wise uniform 4-bit codes with their FP16 scale and bias (``x ~ code * scale + bias``)."""

    codes: torch.Tensor  # uint8 [rows, dim], values 0..15
    scale: torch.Tensor  # float16 [rows]
    bias: torch.Tensor  # float16 [rows]

    def dequantize(self) -> torch.Tensor:
        """The FP32 table these codes stand for."""
        return self.codes.float() * self.scale.float().unsqueeze(1) + self.bias.float().unsqueeze(1)


def minmax_range(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's ``(min, max)``: the naive range of row-wise uniform quantization."""
    return weight.min(dim=1).values, weight.max(dim=1).values


def _fp16_scale_bias(xmin: torch.Tensor, xmax: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and bias rounded to FP16 as the fused format stores them (scale 1 for a constant row)."""
    bias = xmin.half().float()
    span = xmax - bias
    scale = torch.where(span == 0, torch.ones_like(span), span / LEVELS).half().float()
    return scale, bias


def _codes(weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    inverse = 1.0 / scale
    return torch.clamp(torch.round((weight - bias.unsqueeze(1)) * inverse.unsqueeze(1)), 0, LEVELS)


def range_error(weight: torch.Tensor, xmin: torch.Tensor, xmax: torch.Tensor) -> torch.Tensor:
    """Per-row L2 norm of ``x - dequant(quant(x))`` for the range ``[xmin, xmax]`` (FP16 scale/bias)."""
    scale, bias = _fp16_scale_bias(xmin, xmax)
    approx = _codes(weight, scale, bias) * scale.unsqueeze(1) + bias.unsqueeze(1)
    return torch.linalg.vector_norm(weight - approx, dim=1)


def greedy_range(weight: torch.Tensor, n_bins: int = GREEDY_BINS,
                 ratio: float = GREEDY_RATIO) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's greedy range search per row (PyTorch ``param_search_greedy``), vectorised.

    From ``[min, max]`` with step ``(max - min) / n_bins``, move the lower bound up or the upper
    bound down by one step, whichever gives the smaller L2 error; record every strict local
    minimum; stop once the range is ``(1 - ratio) * n_bins`` steps wide. Returns the best recorded
    range, or ``[min, max]`` if none was recorded.
    """
    weight = weight.float()
    xmin, xmax = minmax_range(weight)
    step = (xmax - xmin) / n_bins
    threshold = n_bins * (1.0 - ratio) * step
    cur_min, cur_max = xmin.clone(), xmax.clone()
    cur_loss = range_error(weight, cur_min, cur_max)
    best_min, best_max = xmin.clone(), xmax.clone()
    best_loss = torch.full_like(cur_loss, float("inf"))
    active = cur_min + threshold < cur_max
    while bool(active.any()):
        loss_up = range_error(weight, cur_min + step, cur_max)
        loss_down = range_error(weight, cur_min, cur_max - step)
        local_min = active & (cur_loss < loss_up) & (cur_loss < loss_down) & (cur_loss < best_loss)
        best_min = torch.where(local_min, cur_min, best_min)
        best_max = torch.where(local_min, cur_max, best_max)
        best_loss = torch.where(local_min, cur_loss, best_loss)
        move_up = loss_up < loss_down
        cur_min = torch.where(active & move_up, cur_min + step, cur_min)
        cur_max = torch.where(active & ~move_up, cur_max - step, cur_max)
        cur_loss = torch.where(active, torch.where(move_up, loss_up, loss_down), cur_loss)
        active = active & (cur_min + threshold < cur_max)
    return best_min, best_max


def quantize_rowwise(weight: torch.Tensor, method: str = "greedy") -> RowwiseQuantized:
    """Row-wise uniform 4-bit quantization of `weight` with the ``"greedy"`` or ``"minmax"`` range."""
    weight = weight.detach().float()
    if method == "greedy":
        xmin, xmax = greedy_range(weight)
    elif method == "minmax":
        xmin, xmax = minmax_range(weight)
    else:
        raise ValueError(f"method must be 'greedy' or 'minmax', got {method!r}")
    scale, bias = _fp16_scale_bias(xmin, xmax)
    return RowwiseQuantized(_codes(weight, scale, bias).to(torch.uint8), scale.half(), bias.half())


def pack_nibbles(codes: torch.Tensor) -> torch.Tensor:
    """Two 4-bit codes per byte, element ``2j`` in the low nibble (the fused format's order)."""
    if codes.shape[1] % 2:
        raise ValueError(f"the fused 4-bit format needs an even row width, got {codes.shape[1]}")
    codes = codes.to(torch.uint8)
    return codes[:, 0::2] | (codes[:, 1::2] << 4)


def unpack_nibbles(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_nibbles`: ``[rows, dim / 2]`` bytes to ``[rows, dim]`` codes."""
    return torch.stack((packed & 0x0F, packed >> 4), dim=2).reshape(packed.shape[0], -1)


def pack_fused(quantized: RowwiseQuantized) -> torch.Tensor:
    """The fused row-wise layout of ``embedding_bag_4bit_prepack``: codes, FP16 scale, FP16 bias."""
    scale = quantized.scale.reshape(-1, 1).contiguous().view(torch.uint8)
    bias = quantized.bias.reshape(-1, 1).contiguous().view(torch.uint8)
    return torch.cat((pack_nibbles(quantized.codes), scale, bias), dim=1).contiguous()


class Fused4bitEmbeddingBag(nn.Module):
    """A frozen 4-bit row-wise table served by PyTorch/FBGEMM's fused ``embedding_bag_4bit_rowwise_offsets``.

    Holds only the packed uint8 tensor (``dim / 2 + 4`` bytes per row), i.e. what the paper's
    deployed model stores.
    """

    def __init__(self, packed: torch.Tensor, embedding_dim: int, mode: str = "sum") -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {tuple(_MODES)}, got {mode!r}")
        if packed.dtype != torch.uint8 or packed.shape[1] != embedding_dim // 2 + 4:
            raise ValueError(f"packed must be uint8 [rows, {embedding_dim // 2 + 4}], got {packed.dtype} {tuple(packed.shape)}")
        self.embedding_dim, self.mode = embedding_dim, mode
        self.register_buffer("packed", packed)

    @classmethod
    def from_float(cls, weight: torch.Tensor, method: str = "greedy", mode: str = "sum") -> "Fused4bitEmbeddingBag":
        """Quantize an FP32 table with the ``"greedy"`` or ``"minmax"`` range and pack it."""
        return cls(pack_fused(quantize_rowwise(weight, method)), weight.shape[1], mode)

    def forward(self, input: torch.Tensor, offsets: torch.Tensor | None = None,
                per_sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled FP32 embeddings ``[bags, dim]`` straight from the 4-bit rows."""
        input, offsets = flatten_bags(input, offsets)
        pooled = torch.ops.quantized.embedding_bag_4bit_rowwise_offsets(
            self.packed, input.long(), offsets.long(), mode=_MODES["sum"], pruned_weights=False,
            per_sample_weights=per_sample_weights, include_last_offset=False)
        if self.mode == "sum":
            return pooled
        # The CPU op sums whatever mode it is given (PyTorch 2.13), so the mean is taken here.
        return pooled / bag_lengths(offsets, input.numel()).clamp(min=1).unsqueeze(1).to(pooled.dtype)

    def dequantized_weight(self) -> torch.Tensor:
        """The FP32 table the packed rows stand for (for error analysis)."""
        return torch.ops.quantized.embedding_bag_4bit_unpack(self.packed)


@dataclass
class CodebookQuantized:
    """Per-row codebooks (FP16 ``[rows, 16]``) and 4-bit indices into them (uint8 ``[rows, dim]``)."""

    centroids: torch.Tensor
    codes: torch.Tensor

    def dequantize(self) -> torch.Tensor:
        """The FP32 table these codes stand for."""
        return torch.gather(self.centroids.float(), 1, self.codes.long())


def _nearest(weight: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest of each row's sorted centroids, by binary search on the midpoints."""
    midpoints = (centroids[:, 1:] + centroids[:, :-1]) / 2
    return torch.searchsorted(midpoints.contiguous(), weight.contiguous())


def kmeans_codebook(weight: torch.Tensor, iterations: int = 20) -> CodebookQuantized:
    """Fit 16 centroids per row by Lloyd's k-means (the paper's codebook quantization), all rows at once.

    Starts from the 16 uniform min/max levels, so each Lloyd step can only lower the row's
    squared error; in one dimension the centroids stay sorted, so the nearest one is found by
    binary search; empty clusters keep their previous centroid. Centroids are stored in FP16.
    """
    weight = weight.detach().float()
    xmin, xmax = minmax_range(weight)
    levels = torch.linspace(0, 1, LEVELS + 1, device=weight.device)
    centroids = xmin.unsqueeze(1) + (xmax - xmin).unsqueeze(1) * levels
    for _ in range(iterations):
        codes = _nearest(weight, centroids)
        sums = torch.zeros_like(centroids).scatter_add_(1, codes, weight)
        counts = torch.zeros_like(centroids).scatter_add_(1, codes, torch.ones_like(weight))
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    half = centroids.half()
    return CodebookQuantized(half, _nearest(weight, half.float()).to(torch.uint8))


class CodebookEmbeddingBag(nn.Module):
    """A frozen codebook-quantized table: packed 4-bit indices plus a FP16 codebook per row.

    Stores ``dim / 2 + 32`` bytes per row; lookups dequantize only the rows a batch touches.
    """

    packed_codes: torch.Tensor
    centroids: torch.Tensor

    def __init__(self, quantized: CodebookQuantized, mode: str = "sum") -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {tuple(_MODES)}, got {mode!r}")
        self.embedding_dim, self.mode = quantized.codes.shape[1], mode
        self.register_buffer("packed_codes", pack_nibbles(quantized.codes))
        self.register_buffer("centroids", quantized.centroids)

    @classmethod
    def from_float(cls, weight: torch.Tensor, mode: str = "sum") -> "CodebookEmbeddingBag":
        """Quantize an FP32 table by per-row k-means."""
        return cls(kmeans_codebook(weight), mode)

    def forward(self, input: torch.Tensor, offsets: torch.Tensor | None = None,
                per_sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled FP32 embeddings ``[bags, dim]``."""
        input, offsets = flatten_bags(input, offsets)
        rows = unpack_nibbles(self.packed_codes[input]).long()
        values = torch.gather(self.centroids[input].float(), 1, rows)
        return pool_rows(values, offsets, self.mode, per_sample_weights)

    def dequantized_weight(self) -> torch.Tensor:
        """The FP32 table the codes stand for (for error analysis)."""
        return CodebookQuantized(self.centroids, unpack_nibbles(self.packed_codes)).dequantize()


def quantize_table(table: nn.Module, method: str) -> Fused4bitEmbeddingBag | CodebookEmbeddingBag:
    """A frozen 4-bit copy of a plain ``nn.EmbeddingBag``: ``"minmax"``, ``"greedy"`` or ``"codebook"``."""
    if not isinstance(table, nn.EmbeddingBag):
        raise TypeError(f"post-training quantization takes plain nn.EmbeddingBag tables, got {type(table).__name__}")
    if method == "codebook":
        return CodebookEmbeddingBag.from_float(table.weight, table.mode)
    return Fused4bitEmbeddingBag.from_float(table.weight, method, table.mode)


def relative_row_error(weight: torch.Tensor, approx: torch.Tensor) -> float:
    """Mean over rows of ``||w - w_hat|| / ||w||``: how far a quantized table is from its FP32 rows."""
    norms = torch.linalg.vector_norm(weight, dim=1).clamp(min=torch.finfo(torch.float32).tiny)
    return float((torch.linalg.vector_norm(weight - approx, dim=1) / norms).mean())
