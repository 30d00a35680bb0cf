"""DHEN against its AdvancedDLRM baseline and against mixture-of-experts widening at matched FLOPs, in one pass (Zhang et al. 2022).

Every model reads the same field embeddings and trains by the same recipe and tuning budget
(:mod:`harness.ctr_zoo`), for one pass over the training split (the paper's online setting),
evaluated at fractions of the pass (:func:`harness.study.metrics_at_fractions`). Runs:

* ``dlrm``: the AdvancedDLRM substitution (:class:`~harness.models.dlrm.FieldDLRM` over the
  flattened embeddings and their pairwise dot products, top MLP ``dlrm_top``): the baseline of
  Tables 2 and 3, and the module each DHEN layer ensembles;
* ``dhen_n<N>``: DHEN with ``N`` layers of ``modules`` (:class:`papers.dhen.dhen.DHEN`);
* ``moe_n<N>``: the baseline whose top MLP is widened into softmax-gated experts, as many as make
  its FLOPs about those of ``dhen_n<N>`` (Table 3; ``moe_experts`` and ``moe_matches`` pair them).

Derived per run and checkpoint: ``ne_gain_pct_at_<f>pct``, the relative test NE reduction
against ``dlrm`` of the same seed at the same checkpoint (Table 2's "NE diff", sign flipped so a
gain is positive); on each DHEN matched with an MoE, ``flops_vs_moe``, its FLOPs over the MoE's.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from harness.ctr_zoo import fields_of, recipe_note, tuning, zoo_study, zoo_variant
from harness.data.api import Splits
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult
from harness.models.dlrm import FieldDLRM
from harness.study import Study, Variant, metrics_at_fractions, ratio, relative_to_baseline, run_tuned_study
from papers.dhen.dhen import DHEN
from papers.dhen.params import Params

BASELINE = "dlrm"


def ne_reduction_pct(value: float, baseline: float) -> float:
    """``100 (baseline - value) / baseline``: the relative NE reduction, positive when `value` is better."""
    return 100.0 * (baseline - value) / baseline


def checkpoint_tag(fraction: float) -> str:
    """``0.2`` -> ``"at_20pct"`` (the suffix of :func:`harness.study.metrics_at_fractions`)."""
    return f"at_{round(100 * fraction)}pct"


def moe_name(depth: int) -> str:
    """The mixture of experts compared with ``dhen_n<depth>`` at about equal FLOPs: ``moe_n<depth>``."""
    return f"moe_n{depth}"


def dhen_builder(p: Params, num_layers: int) -> Callable[[Splits], nn.Module]:
    """A DHEN of `num_layers` layers sized by the profile."""
    return lambda splits: DHEN(fields_of(splits, p), num_layers, p.modules, p.ensemble,  # type: ignore[arg-type]
                               dlrm_hidden=p.dlrm_hidden, head=p.head)


def moe_builder(p: Params, experts: int) -> Callable[[Splits], nn.Module]:
    """The AdvancedDLRM baseline with its top MLP widened into `experts` gated experts."""
    return lambda splits: FieldDLRM(fields_of(splits, p), p.dlrm_top, True, experts=experts)


def variants(p: Params) -> dict[str, Variant]:
    """The AdvancedDLRM baseline, DHEN at every depth, and the MoE widenings."""
    if len(p.moe_experts) != len(p.moe_matches) or not set(p.moe_matches) <= set(p.layers):
        raise ConfigError(f"dhen: moe_matches {list(p.moe_matches)} must give one DHEN depth of layers "
                          f"{list(p.layers)} per entry of moe_experts {list(p.moe_experts)}")
    measure = metrics_at_fractions(p.checkpoints)
    out = {BASELINE: zoo_variant(f"AdvancedDLRM substitution: [flatten(X); triu(X X^T, 1)] -> top MLP "
                                 f"{list(p.dlrm_top)}", lambda s: FieldDLRM(fields_of(s, p), p.dlrm_top, True), p,
                                 {"family": "baseline"}, measure)}
    for n in p.layers:
        out[f"dhen_n{n}"] = zoo_variant(f"DHEN, {n} layer(s) of {' + '.join(p.modules)} ({p.ensemble} ensemble), "
                                        f"module MLP {list(p.dlrm_hidden)}, head {list(p.head)}",
                                        dhen_builder(p, n), p, {"family": "dhen", "layers": n}, measure)
    for e, n in zip(p.moe_experts, p.moe_matches):
        out[moe_name(n)] = zoo_variant(f"AdvancedDLRM with its top MLP {list(p.dlrm_top)} widened into {e} "
                                       f"softmax-gated dense experts (FLOPs matched to dhen_n{n})",
                                       moe_builder(p, e), p,
                                       {"family": "moe", "experts": e, "matches": f"dhen_n{n}"}, measure)
    return out


def study(ctx: ExperimentContext) -> Study:
    """The variants at every rate of the grid, on the profile's splits."""
    p: Params = ctx.params
    return zoo_study(ctx, p, variants(p))


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Tune, train every model on every seed for one pass, and derive the NE gains and FLOP ratios."""
    p: Params = ctx.params
    tuned = run_tuned_study(ctx, study, tuning(p, select=f"val_auc_{checkpoint_tag(p.checkpoints[-1])}"))
    runs = tuned.result.runs
    gains = {f"ne_gain_pct_{checkpoint_tag(f)}": (f"test_ne_{checkpoint_tag(f)}", ne_reduction_pct)
             for f in p.checkpoints}
    relative_to_baseline(runs, lambda model: BASELINE if model != BASELINE else None, gains)
    matched = {f"dhen_n{n}": moe_name(n) for n in p.moe_matches}
    relative_to_baseline(runs, matched.get, {"flops_vs_moe": ("flops_per_example", ratio)})
    manifest = tuned.result.first_data().manifest
    train_rows = manifest.get("splits", {}).get("train")
    notes = [f"Data: {p.dataset} {manifest.get('splits')} (train/val/test); the paper trains one pass over "
             "25B-50B internal examples and reports NE; here one pass over the training split"
             + (f" ({train_rows:,} rows)" if train_rows else "") + ", test NE read at "
             + ", ".join(f"{round(100 * f)}%" for f in p.checkpoints) + " of the pass. All quality claims are "
             "transferred from the paper's internal data.",
             recipe_note(p) + " One pass, so early stopping does not apply; the learning rate is chosen by the "
             "end-of-pass validation AUC.",
             "AdvancedDLRM (Meta-internal) is substituted by DLRM's pairwise dot products with the flattened "
             "embeddings and an MLP (papers/dhen/dhen.py); the baseline is that model with top MLP "
             f"{list(p.dlrm_top)}, DHEN's layers ensemble {' + '.join(p.modules)} modules.",
             "Mixture of experts: every expert is the baseline's top MLP, one softmax gate over the same input, "
             "all experts computed (a dense mixture, as Table 3's FLOPs growing with the expert count imply); "
             "compared at about equal FLOPs: " + ", ".join(f"dhen_n{n} vs {e} experts ({moe_name(n)})" for e, n in
                                                      zip(p.moe_experts, p.moe_matches)) + ".",
             "FLOPs per example count the forward pass's matrix products (2 per multiply-add, "
             "torch.utils.flop_counter), not element-wise operations or embedding lookups."]
    return ExperimentResult(runs=runs, dataset=manifest, protocol_notes=notes, models=tuned.result.models)
