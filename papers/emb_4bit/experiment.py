"""Post-training 4-bit quantization of a trained DLRM's tables on Criteo (Guan et al. 2019).

Per seed: train an FP32 DLRM (plain tables), evaluate its final state on the test split, then
replace every table by its 4-bit version (row-wise uniform with the min/max range, with the
greedy range search, or per-row k-means codebooks) and evaluate again, with no retraining. The
uniform variants are served by PyTorch/FBGEMM's fused ``embedding_bag_4bit_rowwise_offsets``;
sizes are the measured bytes of the stored tables.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch
from torch import nn

from harness.data.api import Splits
from harness.data.profile import profile_splits
from harness.embeddings.memory import module_nbytes
from harness.embeddings.quant4bit import quantize_table, relative_row_error
from harness.embeddings.study import (build_dlrm, ctr_train_config, ctr_variant, embedding_sizes, table_collection,
                                      table_factory)
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.params import as_table
from harness.study import Study, Trained, Variant, difference, percent_change, ratio, relative_to_baseline, run_study
from harness.train.trainer import evaluate
from papers.emb_4bit.params import Params

BASELINE = "fp32"


def test_metrics(model: nn.Module, splits: Splits) -> dict[str, float]:
    """The test metrics of `model`'s current (final) weights."""
    return evaluate(model, splits.test, [""], "test", torch.device("cpu"))


def measure_fp32(trained: Trained) -> dict[str, float]:
    """The FP32 model's sizes and the test metrics of its final weights (the ones quantized)."""
    return {**embedding_sizes(trained), **test_metrics(trained.model, trained.data), "row_error": 0.0,
            "model_size_ratio": 1.0}


def quantizer(method: str) -> Any:
    """The derivation of `method`: quantize every table of a trained model, evaluate it on test."""
    def derive(model: nn.Module, splits: Splits, trained: SeedRun) -> tuple[dict[str, float], nn.Module]:
        quantized = copy.deepcopy(model)
        collection = table_collection(quantized)
        errors = []
        for name, table in list(collection.tables.items()):
            packed = quantize_table(table, method)
            collection.tables[name] = packed
            errors.append(relative_row_error(table.get_parameter("weight").detach(), packed.dequantized_weight()))
        metrics = test_metrics(quantized, splits)
        metrics.update(row_error=sum(errors) / len(errors), embedding_bytes=float(module_nbytes(collection)),
                       model_size_ratio=module_nbytes(quantized) / module_nbytes(model))
        return metrics, quantized
    return derive


def variants(p: Params) -> dict[str, Variant]:
    """The FP32 DLRM, and one 4-bit variant per quantizer derived from its trained tables."""
    make = table_factory("full", {})
    fp32 = ctr_variant(f"DLRM with FP32 tables, dim {p.dim}",
                       lambda splits: build_dlrm(splits.table_sizes, p.dim, list(p.bottom), list(p.top), make),
                       ctr_train_config(p.epochs, p.lr, p.optimizer, p.max_steps), {"tables": "float32"})
    quantized = {m: Variant(f"the FP32 model's tables quantized to 4 bits ({m}), no retraining", derived_from=BASELINE,
                            derive=quantizer(m), settings={"tables": f"4-bit {m}"}, config={"method": m, "bits": 4})
                 for m in p.methods}
    return {BASELINE: dataclasses.replace(fp32, measure=measure_fp32), **quantized}


def study(ctx: ExperimentContext) -> Study:
    """The FP32 model and its quantized variants on the Criteo splits of each seed."""
    p: Params = ctx.params
    return Study(variants=variants(p),
                 data=lambda source, seed: profile_splits(ctx.data_dir, ctx.work_dir, as_table(p), seed))


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Train FP32 DLRMs (one per seed), quantize their tables three ways, evaluate all on test."""
    p: Params = ctx.params
    result = run_study(ctx, study)
    relative_to_baseline(result.runs, lambda model: BASELINE,
                         {"ne_change_pct": ("test_ne", percent_change),
                          "logloss_change_pct": ("test_logloss", percent_change),
                          "auc_change": ("test_auc", difference),
                          "embedding_size_ratio": ("embedding_bytes", ratio)})
    manifest = result.first_data().manifest
    notes = [f"Criteo rows: {manifest.get('splits')} (train/val/test). The paper quantized a Facebook production "
             "model; every claim is transferred to a DLRM trained on public Criteo data.",
             f"DLRM bottom {list(p.bottom)}, top {list(p.top)}, embedding dim {p.dim}; trained {p.epochs} epoch(s) "
             f"with {p.optimizer} lr {p.lr}, batch {p.batch_size}; the final weights are "
             "quantized and all test metrics (test_*) are of the final weights.",
             "Greedy search: 200 bins, ratio 0.16 (PyTorch defaults), bytes identical to "
             "torch.ops.quantized.embedding_bag_4bit_prepack(optimized_qparams=True).",
             "Codebook: 16 k-means centroids per row (FP16) + 4-bit indices, dequantized in PyTorch (no fused op)."]
    return ExperimentResult(runs=result.runs, dataset=manifest, protocol_notes=notes, models=result.models)
