"""Post-training 4-bit quantization of a trained DLRM's tables on Criteo (Guan et al. 2019).

Per seed: train an FP32 DLRM (plain tables), evaluate its final state on the test split, then
replace every table by its 4-bit version (row-wise uniform with the min/max range, with the
greedy range search, or per-row k-means codebooks) and evaluate again, with no retraining. The
uniform variants are served by PyTorch/FBGEMM's fused ``embedding_bag_4bit_rowwise_offsets``;
sizes are the measured bytes of the stored tables.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
from torch import nn

from harness.embeddings.memory import module_nbytes
from harness.embeddings.quant4bit import quantize_table, relative_row_error
from harness.data.profile import profile_splits
from harness.embeddings.study import dlrm_with_tables, table_factory, train_ctr
from harness.experiment import ExperimentContext, ExperimentResult, SeedRun
from harness.train.trainer import evaluate


def _test_metrics(model: nn.Module, splits: Any) -> dict[str, float]:
    return evaluate(model, splits.test, [""], "test", torch.device("cpu"))


def quantized_run(model: nn.Module, method: str, seed: int, splits: Any, reference: dict[str, float]) -> SeedRun:
    """Quantize every table of a trained `model` with `method`, evaluate, and compare with FP32 `reference`."""
    started = time.perf_counter()
    quantized = copy.deepcopy(model)
    collection = quantized.sparse.collection  # type: ignore[union-attr]
    errors = []
    for name, table in list(collection.tables.items()):
        collection.tables[name] = quantize_table(table, method)
        errors.append(relative_row_error(table.weight.detach(), collection.tables[name].dequantized_weight()))
    metrics = _test_metrics(quantized, splits)
    fp32_tables = module_nbytes(model.sparse)  # type: ignore[arg-type]
    metrics.update(
        ne_change_pct=100.0 * (metrics["test_ne"] / reference["test_ne"] - 1.0),
        logloss_change_pct=100.0 * (metrics["test_logloss"] / reference["test_logloss"] - 1.0),
        auc_change=metrics["test_auc"] - reference["test_auc"],
        row_error=sum(errors) / len(errors),
        embedding_bytes=float(module_nbytes(collection)),
        embedding_size_ratio=module_nbytes(collection) / fp32_tables,
        model_size_ratio=module_nbytes(quantized) / module_nbytes(model))
    return SeedRun(model=method, seed=seed, metrics=metrics, wall_time_s=time.perf_counter() - started,
                   config={"method": method, "bits": 4})


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Train FP32 DLRMs (one per seed), quantize their tables three ways, evaluate all on test."""
    p = ctx.params
    runs: list[SeedRun] = []
    manifest: dict[str, Any] = {}
    for seed in ctx.seeds:
        splits = profile_splits(ctx.data_dir, ctx.work_dir, p, seed)
        manifest = splits.manifest
        make = table_factory("full", {})
        model, trained = train_ctr("fp32", seed, lambda: dlrm_with_tables(splits.table_sizes, int(p["dim"]),
                                                                          p["bottom"], p["top"], make),
                                   splits, p, ctx.progress)
        reference = _test_metrics(model, splits)  # the final weights, which are the ones quantized
        trained.metrics.update(reference, ne_change_pct=0.0, logloss_change_pct=0.0, auc_change=0.0,
                               row_error=0.0, embedding_size_ratio=1.0, model_size_ratio=1.0)
        runs.append(trained)
        for method in p["methods"]:
            ctx.progress.log(f"seed {seed}: quantizing the tables ({method})")
            runs.append(quantized_run(model, method, seed, splits, reference))
    notes = [f"Criteo rows: {manifest.get('splits')} (train/val/test). The paper quantized a Facebook production "
             "model; every claim is transferred to a DLRM trained on public Criteo data.",
             f"DLRM bottom {p['bottom']}, top {p['top']}, embedding dim {p['dim']}; trained {p['epochs']} epoch(s) "
             f"with {p.get('optimizer', 'adagrad')} lr {p['lr']}, batch {p['batch_size']}; the final weights are "
             "quantized and all test metrics (test_*) are of the final weights.",
             "Greedy search: 200 bins, ratio 0.16 (PyTorch defaults), bytes identical to "
             "torch.ops.quantized.embedding_bag_4bit_prepack(optimized_qparams=True).",
             "Codebook: 16 k-means centroids per row (FP16) + 4-bit indices, dequantized in PyTorch (no fused op)."]
    models = {"fp32": {"tables": "float32"}, **{m: {"tables": f"4-bit {m}"} for m in p["methods"]}}
    return ExperimentResult(runs=runs, dataset=manifest, protocol_notes=notes, models=models)
