"""Wukong against DLRM, DCNv2 and FinalMLP on Frappe, deeper against shallower, and Fig. 4's ablations (Zhang et al. 2024).

Every model reads the same field embeddings and trains by the same recipe with the same tuning
budget (:mod:`harness.ctr_zoo`: a learning-rate grid on a tuning seed outside the evaluated
seeds, early stopping on validation AUC, the best-validation evaluation reported). Runs:

* ``wukong``: the main model (``num_layers`` layers); ``wukong_l<l>``: the same with ``l`` layers;
* ``ablate_<branches>``: the main model with Fig. 4's branches zeroed (``fmb``, ``lcb``) or the
  residual dropped, parameters kept (:data:`papers.wukong.wukong.ABLATIONS`);
* the zoo's baselines (``dlrm``, ``dcnv2``, ``finalmlp``, ...).

The depth and ablation variants take the main model's tuned learning rate; every other model is
tuned on its own. Each run records its parameters and forward FLOPs per example.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from harness.ctr_zoo import baseline_variants, fields_of, recipe_note, tuning, zoo_study, zoo_variant
from harness.data.api import Splits
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult
from harness.study import Study, Variant, run_tuned_study
from papers.wukong.params import Params
from papers.wukong.wukong import ABLATIONS, Wukong

MAIN = "wukong"


def ablation_name(spec: str) -> str:
    """``"lcb+residual"`` -> ``"ablate_lcb_residual"``."""
    return "ablate_" + "_".join(spec.split("+"))


def builder(p: Params, num_layers: int, ablate: tuple[str, ...] = ()) -> Callable[[Splits], nn.Module]:
    """A Wukong of `num_layers` layers sized by the profile, with `ablate` branches zeroed."""
    return lambda splits: Wukong(fields_of(splits, p), num_layers, p.num_fmb, p.num_lcb, p.rank, p.fmb_hidden,
                                 p.head, dropout=p.dropout, ablate=ablate)


def wukong_variants(p: Params) -> dict[str, Variant]:
    """The main model, its depth variants and its ablations."""
    sizes = f"n_F = {p.num_fmb}, n_L = {p.num_lcb}, k = {p.rank}, FMB MLP {list(p.fmb_hidden)}, head {list(p.head)}"
    out = {MAIN: zoo_variant(f"Wukong, {p.num_layers} layers, {sizes}", builder(p, p.num_layers), p,
                             {"family": "wukong", "layers": p.num_layers})}
    for depth in p.depths:
        out[f"wukong_l{depth}"] = zoo_variant(f"Wukong, {depth} layer(s), {sizes}", builder(p, depth), p,
                                              {"family": "wukong", "layers": depth})
    for spec in p.ablations:
        branches = tuple(spec.split("+"))
        unknown = [b for b in branches if b not in ABLATIONS]
        if unknown:
            raise ConfigError(f"wukong: unknown ablation {spec!r}; branches are {', '.join(ABLATIONS)} joined by '+'")
        out[ablation_name(spec)] = zoo_variant(f"Wukong, {p.num_layers} layers, {' and '.join(branches)} ablated",
                                               builder(p, p.num_layers, branches), p,
                                               {"family": "wukong", "layers": p.num_layers, "ablate": list(branches)})
    return out


def study(ctx: ExperimentContext) -> Study:
    """Wukong's variants and the baselines, each at every rate of the grid, on the profile's splits."""
    p: Params = ctx.params
    return zoo_study(ctx, p, {**wukong_variants(p), **baseline_variants(p)})


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Tune, train every model on every seed, and describe the protocol."""
    p: Params = ctx.params
    followers = [name for name in wukong_variants(p) if name != MAIN]
    tuned = run_tuned_study(ctx, study, tuning(p, {name: MAIN for name in followers}))
    result = tuned.result
    manifest = result.first_data().manifest
    notes = [f"Data: {p.dataset} {manifest.get('splits')} (train/val/test)."
             + (" The official 202,027-row train file is absent: train and validation are the official "
                "validation file split 80/20 by a fixed seed, test is the official test file, so absolute "
                "AUCs sit below Table 2's and the Table 2 relations are transferred." if p.dataset == "frappe" else ""),
             recipe_note(p),
             f"Depth and ablation variants take Wukong's tuned rate ({tuned.chosen[MAIN]:g}); chosen rates: "
             + ", ".join(f"{m} {lr:g}" for m, lr in tuned.chosen.items()) + ".",
             "FLOPs per example count the forward pass's matrix products (2 per multiply-add, "
             "torch.utils.flop_counter), not element-wise operations or embedding lookups."]
    return ExperimentResult(runs=result.runs, dataset=manifest, protocol_notes=notes, models=result.models)
