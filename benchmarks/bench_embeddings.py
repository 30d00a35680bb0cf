"""Embedding-compression benchmarks: forward and backward of each trick against TorchRec's EBC,
and the step and state of frequency-aware SGD against SGD, Adagrad and Adam.

The QR, hashing, mixed-dimension and 4-bit tables (harness.embeddings) replace plain
tables inside the same KeyedJaggedTensor front-end, so each pass is timed on the same
Criteo-like batch (one id per table per example, power-law ids) against the plain
``EmbeddingBagCollection``. ``track_nbytes`` records the measured bytes of each variant's tables.

Direction: asv counts every number as lower-is-better; these are ``time_*`` benchmarks (seconds)
and ``track_nbytes`` in bytes (``unit = "bytes"``), where smaller tables are the goal.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchrec.modules.embedding_configs import EmbeddingBagConfig
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from harness.embeddings.collection import TableCollection
from harness.embeddings.memory import module_nbytes
from harness.embeddings.mixed_dim import ProjectedEmbeddingBag, table_dims
from harness.embeddings.qr import HashedEmbeddingBag, QREmbeddingBag, hashing_buckets_at_budget
from harness.embeddings.quant4bit import CodebookEmbeddingBag, Fused4bitEmbeddingBag
from harness.optim.fa_sgd import COUNTER, FrequencyAwareSGD

from .common import SEED

ROWS = [1_000, 10_000, 100_000, 200_000]  # four tables of Criteo-like spread
DIM = 16
BATCH = 2048


def _features() -> list[str]:
    return [f"f{i}" for i in range(len(ROWS))]


def _batch(seed: int = SEED) -> KeyedJaggedTensor:
    """One id per feature per example, drawn from a Zipf law (most traffic on few rows)."""
    rng = np.random.default_rng(seed)
    values = [np.minimum(rng.zipf(1.2, BATCH) - 1, n - 1) for n in ROWS]
    return KeyedJaggedTensor.from_lengths_sync(
        keys=_features(), values=torch.from_numpy(np.concatenate(values)).long(),
        lengths=torch.ones(BATCH * len(ROWS), dtype=torch.int64))


def _ebc() -> EmbeddingBagCollection:
    return EmbeddingBagCollection(tables=[
        EmbeddingBagConfig(name=f"t_{f}", embedding_dim=DIM, num_embeddings=n, feature_names=[f])
        for f, n in zip(_features(), ROWS)])


def _collection(make: "type[nn.Module] | object") -> TableCollection:
    tables = {f: make(n) for f, n in zip(_features(), ROWS)}  # type: ignore[operator]
    return TableCollection(tables, {f: DIM for f in _features()})


def build(variant: str) -> nn.Module:
    """The embedding front-end of one variant (plain EBC, QR, hashing, MD, 4-bit)."""
    if variant == "ebc":
        return _ebc()
    if variant.startswith("qr_"):
        return _collection(lambda n: QREmbeddingBag(n, DIM, num_collisions=4, operation=variant[3:]))
    if variant == "hashing":
        return _collection(lambda n: HashedEmbeddingBag(n, DIM, hashing_buckets_at_budget(n, 4)))
    if variant == "mixed_dim":
        dims = dict(zip(ROWS, table_dims(ROWS, alpha=0.3, base_dim=DIM)))
        return _collection(lambda n: ProjectedEmbeddingBag(n, dims[n], DIM))
    weights = {n: torch.randn(n, DIM, generator=torch.Generator().manual_seed(SEED)) * 0.1 for n in ROWS}
    if variant in ("fused4bit_greedy", "fused4bit_minmax"):
        return _collection(lambda n: Fused4bitEmbeddingBag.from_float(weights[n], variant.split("_")[1]))
    if variant == "codebook4bit":
        return _collection(lambda n: CodebookEmbeddingBag.from_float(weights[n]))
    raise ValueError(f"unknown variant {variant!r}")


class TrainableTables:
    """Forward, and forward + backward, of trainable variants on one batch of 2048 examples."""

    params = ["ebc", "qr_mult", "qr_add", "qr_concat", "hashing", "mixed_dim"]
    param_names = ["variant"]

    def setup(self, variant: str) -> None:
        """Build the tables and the batch outside the timed region."""
        torch.manual_seed(SEED)
        self.module, self.batch = build(variant), _batch()

    def time_forward(self, variant: str) -> None:
        """Pool every feature of the batch."""
        with torch.no_grad():
            self.module(self.batch)

    def time_forward_backward(self, variant: str) -> None:
        """Pool, then back-propagate a scalar into the tables."""
        self.module.zero_grad(set_to_none=True)
        self.module(self.batch).values().sum().backward()

    def track_nbytes(self, variant: str) -> int:
        """Measured bytes of the tables (parameters and buffers)."""
        return module_nbytes(self.module)

    track_nbytes.unit = "bytes"  # type: ignore[attr-defined]


class QuantizedTables:
    """Inference lookups of post-training 4-bit tables against the FP32 EBC."""

    params = ["ebc", "fused4bit_greedy", "fused4bit_minmax", "codebook4bit"]
    param_names = ["variant"]
    timeout = 300

    def setup(self, variant: str) -> None:
        """Quantize the tables (greedy search and k-means are not timed) and draw the batch."""
        torch.manual_seed(SEED)
        self.module, self.batch = build(variant), _batch()

    def time_forward(self, variant: str) -> None:
        """Pool every feature of the batch from the stored representation."""
        with torch.no_grad():
            self.module(self.batch)

    def track_nbytes(self, variant: str) -> int:
        """Measured bytes of the stored tables."""
        return module_nbytes(self.module)

    track_nbytes.unit = "bytes"  # type: ignore[attr-defined]


class Quantize:
    """Cost of the post-training quantization itself on a 100k x 16 table."""

    params = ["greedy", "minmax", "codebook"]
    param_names = ["method"]
    timeout = 300

    def setup(self, method: str) -> None:
        """Draw the FP32 table."""
        self.weight = torch.randn(100_000, DIM, generator=torch.Generator().manual_seed(SEED))

    def time_quantize(self, method: str) -> None:
        """Quantize and pack the whole table."""
        if method == "codebook":
            CodebookEmbeddingBag.from_float(self.weight)
        else:
            Fused4bitEmbeddingBag.from_float(self.weight, method)


def _table_optimizer(method: str, table: nn.EmbeddingBag, ids: torch.Tensor) -> torch.optim.Optimizer:
    """The embedding optimizer `method` over `table` (FA-SGD's frequencies counted from `ids`)."""
    params, lr = [table.weight], 0.01
    if method == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if method == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    if method == "adam":
        return torch.optim.SparseAdam(params, lr=lr)
    if method == "fa_sgd":
        counts = torch.bincount(ids, minlength=table.num_embeddings).float() + 1.0
        return FrequencyAwareSGD([{"params": params, "frequency": counts / counts.sum()}], lr=lr)
    if method == "cf_sgd":
        return FrequencyAwareSGD([{"params": params, "frequency": COUNTER}], lr=lr)
    raise ValueError(f"unknown method {method!r}")


class TableOptimizerStep:
    """One sparse update of a 200,000-row table: FA-SGD and CF-SGD (arXiv 2110.04844) against SGD, Adagrad, Adam.

    The gradient comes from one batch of 2048 Zipf-distributed ids (``nn.EmbeddingBag(sparse=True)``),
    so only the rows the batch touched are updated, as in the paper's setting. ``track_state_bytes``
    is the optimizer's measured state after one step: FA-SGD's claim is less optimizer memory than
    Adagrad and Adam (one float per row for CF-SGD's counter).
    """

    params = ["sgd", "adagrad", "adam", "fa_sgd", "cf_sgd"]
    param_names = ["method"]

    def setup(self, method: str) -> None:
        """The table, its sparse gradient and the optimizer, outside the timed region."""
        torch.manual_seed(SEED)
        rows = ROWS[-1]
        rng = np.random.default_rng(SEED)
        ids = torch.from_numpy(np.minimum(rng.zipf(1.2, BATCH) - 1, rows - 1)).long()
        self.table = nn.EmbeddingBag(rows, DIM, mode="sum", sparse=True)
        self.table(ids, torch.arange(BATCH)).sum().backward()
        self.optimizer = _table_optimizer(method, self.table, ids)

    def time_step(self, method: str) -> None:
        """Apply the stored sparse gradient once."""
        self.optimizer.step()

    def track_state_bytes(self, method: str) -> int:
        """Bytes of optimizer state after one step: per-parameter state and tensors held by groups (FA-SGD's frequencies)."""
        self.optimizer.step()
        held = [*(v for state in self.optimizer.state.values() for v in state.values()),
                *(v for group in self.optimizer.param_groups for key, v in group.items() if key != "params")]
        return sum(t.numel() * t.element_size() for t in held if isinstance(t, torch.Tensor))

    track_state_bytes.unit = "bytes"  # type: ignore[attr-defined]
