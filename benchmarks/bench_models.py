"""Train-step time of the CTR models on a Frappe-shaped batch: LR, FM, DCNv2, FinalMLP, Wukong, DHEN.

The batch has Frappe's layout (10 one-hot fields with the table sizes of the NFM/BARS split,
:data:`harness.data.frappe.FIELD_SIZES`, no dense features) and 4,096 examples; embeddings are
16-wide; one step is forward, binary cross-entropy, backward and the updates the trainer makes
(:func:`harness.train.optim.build_optimizers`: Adam for the dense layers, exact Adagrad for the
tables, fused into FBGEMM's TBE backward for TorchRec's ``EmbeddingBagCollection`` and torch's
sparse Adagrad for logistic regression's dimension-1 tables). Model sizes are those of the papers' small
settings (the Wukong default profile of ../shared/research/spec-architectures-formats.md:
3 layers, n_F = n_L = 8, k = 8, FMB MLP [64, 64]; DHEN with 2 layers of {AdvancedDLRM, Linear}).

Beside the time, each model reports its forward FLOPs per example (matrix products only,
:mod:`harness.models.flops`) and how far its step is from this CPU's measured fp32 matmul rate:
the step's time over the time its FLOPs (3x the forward: forward plus a backward of twice its
cost) would take at that rate, with the step and a 1024x1024 matmul timed one after the other in
the same process so both see the same load.

Direction: asv counts every number as lower-is-better; so are these (seconds, FLOPs, time ratio).
A model whose FLOPs have no matrix products (logistic regression, FM) has no finite ratio.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from harness.data.frappe import FIELD_SIZES
from harness.models.dcn import DCNv2
from harness.models.fields import field_embeddings
from harness.models.finalmlp import FinalMLP
from harness.models.flops import flops_per_example
from harness.models.fm import FM
from harness.models.linear import LogisticRegression
from harness.train.optim import SparseSpec, build_optimizers
from harness.train.synthetic import random_ctr_batches
from harness.train.throughput import matmul_flops
from papers.dhen.dhen import DHEN
from papers.wukong.wukong import Wukong

from .common import SEED

BATCH = 4096
DIM = 16
MODELS = ("logistic_regression", "fm", "dcnv2", "finalmlp", "wukong", "dhen")


def build(model: str) -> nn.Module:
    """The model `model` of :data:`MODELS` for the Frappe field layout."""
    sizes = {f"f{i}": rows for i, rows in enumerate(FIELD_SIZES)}
    if model == "logistic_regression":
        return LogisticRegression(0, sizes)
    fields = field_embeddings(sizes, DIM)
    if model == "fm":
        return FM(fields, LogisticRegression(0, sizes))
    if model == "dcnv2":
        return DCNv2(fields, cross_layers=3, deep=[256, 256], structure="parallel")
    if model == "finalmlp":
        return FinalMLP(fields, mlp_1=[256, 256], mlp_2=[256], gate_hidden=[256], num_heads=2)
    if model == "wukong":
        return Wukong(fields, num_layers=3, num_fmb=8, num_lcb=8, rank=8, fmb_hidden=[64, 64], head=[64, 64])
    if model == "dhen":
        return DHEN(fields, num_layers=2, modules=("dlrm", "linear"), dlrm_hidden=[64], head=[64, 32])
    raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")


class FrappeTrainStep:
    """One training step (forward, loss, backward, Adam) of each model on a 4,096-example Frappe-shaped batch."""

    params = list(MODELS)
    param_names = ["model"]

    def setup(self, model: str) -> None:
        """Model, optimizers and batch outside the timed region; one warm-up step (optimizer state, allocator)."""
        torch.manual_seed(SEED)
        self.model, self.optimizers = build_optimizers(build(model), "adam", 1e-3, 0.0, SparseSpec("adagrad", 0.01),
                                                       torch.device("cpu"))
        self.batch = random_ctr_batches(1, BATCH, 0, list(FIELD_SIZES), seed=SEED)[0]
        self.time_train_step(model)

    def time_train_step(self, model: str) -> None:
        """Forward, binary cross-entropy, backward, optimizer step."""
        self.optimizers.zero_grad()
        logits = self.model(self.batch)
        nn.functional.binary_cross_entropy_with_logits(logits, self.batch.labels).backward()
        self.optimizers.step()

    def track_flops_per_example(self, model: str) -> float:
        """Forward FLOPs per example (matrix products, 2 per multiply-add)."""
        return flops_per_example(self.model, self.batch, BATCH)

    track_flops_per_example.unit = "FLOPs"  # type: ignore[attr-defined]

    def track_roofline_time_ratio(self, model: str) -> float:
        """Median over 3 rounds of the step's time over the time its FLOPs take at the matmul rate
        measured right after it (1 would be the roofline; the inverse is the fraction reached)."""
        step_flops = 3 * flops_per_example(self.model, self.batch, BATCH) * BATCH
        if step_flops == 0:
            return float("nan")
        ratios = []
        for _ in range(3):
            start = time.perf_counter()
            self.time_train_step(model)
            step_s = time.perf_counter() - start
            ratios.append(step_s / (step_flops / matmul_flops(n=1024, repeats=3)[0]))
        return statistics.median(ratios)

    track_roofline_time_ratio.unit = "time ratio"  # type: ignore[attr-defined]
