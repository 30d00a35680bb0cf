"""The number-format study (harness.formats.study): QSNR runs, direct casts, in-format training variants."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from harness.experiment import SeedRun
from harness.formats.fake_quant import QuantizedLinear
from harness.formats.params import FormatStudyParams
from harness.formats.qsnr import qsnr_table
from harness.formats.study import (
    FP32, direct_cast, fake_quantize_matmuls, format_study_variants, qsnr_runs, trained_name)
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.train.synthetic import random_ctr_batches
from harness.train.trainer import seed_everything

ROWS = [60, 40, 90]


def frappe_like_dlrm(seed: int = 0) -> DLRM:
    """A DLRM over three tables of dim 8 and no dense features (Frappe's shape): bottom MLP [0, 8]."""
    torch.manual_seed(seed)
    return DLRM.from_tables([0, 8], [16, 1], make_tables([f"f{i}" for i in range(len(ROWS))], ROWS, 8))


def test_qsnr_runs_share_each_seeds_draw_and_match_qsnr_table() -> None:
    formats, seeds = ["mxint8", "mxfp4", "mx6"], [3, 4]
    runs = qsnr_runs(formats, seeds, 4096)
    table = qsnr_table(formats, seeds, 4096)
    assert [(r.model, r.seed) for r in runs] == list(zip(table["format"], table["seed"]))
    assert [r.metrics["qsnr_db"] for r in runs] == list(table["qsnr_db"])
    assert runs[0].metrics["bits_per_element"] == 8.25 and runs[2].metrics["bits_per_element"] == 6


def test_fake_quantize_matmuls_swaps_linears_with_inputs_and_hooks_the_interaction() -> None:
    model = fake_quantize_matmuls(frappe_like_dlrm(), "mxfp4")
    kinds = {name: type(m) for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    assert kinds["bottom.layers.0"] is nn.Linear  # no inputs: a bias, no matmul to quantise
    assert all(kind is QuantizedLinear for name, kind in kinds.items() if name.startswith("top."))
    assert len(model.interaction._forward_pre_hooks) == 1


def test_direct_cast_leaves_the_trained_model_alone_and_changes_the_output() -> None:
    model = frappe_like_dlrm()
    batch = random_ctr_batches(1, 64, 0, ROWS, seed=1)[0]
    before = model(batch).detach()
    splits = SimpleNamespace(test=[batch])
    metrics, cast = direct_cast("mxfp4")(model, splits, SeedRun("fp32", 0, {}))
    assert torch.equal(model(batch).detach(), before)
    assert not torch.equal(cast(batch).detach(), before)
    assert {"test_auc", "test_logloss", "test_constant_logloss"} <= set(metrics)


def test_trained_in_format_starts_from_the_fp32_variants_weights() -> None:
    p = FormatStudyParams(cast_formats=("mxint8",), train_format="mxfp6_e3m2", dim=8, top=(16, 1))
    variants = format_study_variants(p)
    assert list(variants) == [FP32, "dlrm_mxint8", trained_name("mxfp6_e3m2")]
    assert variants["dlrm_mxint8"].derived_from == FP32
    splits = SimpleNamespace(table_sizes=dict(zip(["a", "b", "c"], ROWS)), num_dense=0)
    built = {}
    for name in (FP32, trained_name("mxfp6_e3m2")):
        seed_everything(7)
        built[name] = variants[name].build(splits)  # type: ignore[misc]
    fp32, in_format = built.values()
    assert all(torch.equal(a, b) for a, b in zip(fp32.state_dict().values(), in_format.state_dict().values()))
    layer = in_format.get_submodule("top.layers.0")
    assert isinstance(layer, QuantizedLinear) and layer.gradient_format is not None
    assert layer.gradient_format.name == "mxfp6_e3m2" and layer.rounding == "away"
