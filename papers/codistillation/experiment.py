"""Codistillation (Anil et al. 2018): prediction churn and quality of single, ensembled and codistilled DLRMs.

Three procedures, each run twice per seed with different seeds (initialisation and data order),
so that the churn between two independent retrains can be measured (Sec. 4's reproducibility
experiment on Criteo):

* ``baseline``: one DLRM;
* ``ensemble``: the mean prediction of two DLRMs trained independently (twice the serving cost);
* ``codistill``: two DLRMs trained together; each one's loss is ``CE(y, p_i) + psi CE(p_other, p_i)``
  where ``p_other`` is the prediction of a *stale* copy of the other model, refreshed every ``R``
  steps (the rare checkpoint exchange), and ``psi = 0`` during a burn-in (Sec. 2, Algorithm 1).
  Model #1 of each run is the one deployed and compared.

Churn is ``mean |p_run1 - p_run2|`` on the test split between the deployed models of the two
retrains (:func:`harness.metrics.prediction_churn`), never between the two members of one pair.
Every model sees the same number of updates (both members of a pair read every batch, in the
same order, like a single model). The last evaluation is reported (no checkpoint selection).
Steps to target: the first validation step at which a model's log loss reaches the final validation
log loss of the baseline of the same seed.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

from harness.data.api import Splits
from harness.data.profile import profile_splits
from harness.errors import ConfigError
from harness.experiment import ExperimentContext, ExperimentResult, NullProgress, Progress, SeedRun
from harness.metrics import binary_metrics, prediction_churn
from harness.models.dlrm import DLRM
from harness.models.embedding import make_tables
from harness.parallel import run_jobs
from harness.params import as_table
from harness.train.distributed import init_from_env
from harness.train.loop import LoopPlan, ctr_optimizers, labels_of, predict_logits, run_steps
from harness.train.trainer import seed_everything
from papers.codistillation.params import Params

Job = tuple[str, int, float, int]  # (kind, seed, psi, refresh steps)


@dataclass
class Trained:
    """One deployed model of one procedure run: its test logits, test metrics and validation curve."""

    test_logits: torch.Tensor
    metrics: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)
    wall_time_s: float = 0.0
    examples_per_s: float = 0.0


@dataclass
class _Shared:
    """What every job reads (picklable for ``--jobs``): the context without its progress sink."""

    ctx: ExperimentContext

    def splits(self, seed: int) -> Splits:
        return profile_splits(self.ctx.data_dir, self.ctx.work_dir, as_table(self.ctx.params), seed)


def build_model(p: Params, splits: Splits) -> DLRM:
    """A DLRM over unfused TorchRec tables (bottom MLP, tables, top MLP, built in that order)."""
    sizes = [splits.table_sizes[k] for k in splits.keys]
    return DLRM.from_tables(list(p.bottom), list(p.top), make_tables(list(splits.keys), sizes, p.dim))


def distillation_loss(logits: torch.Tensor, labels: torch.Tensor, teacher_probs: torch.Tensor | None,
                      weight: float) -> torch.Tensor:
    """``CE(y, p) + weight x CE(p_teacher, p)`` on logits (Anil et al. 2018, Sec. 2); no teacher: ``CE(y, p)``."""
    loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
    if teacher_probs is None or weight == 0:
        return loss
    return loss + weight * nn.functional.binary_cross_entropy_with_logits(logits, teacher_probs)


def total_steps(p: Params, batches: int) -> int:
    """The steps a run takes: every epoch's batches, capped by ``max_steps``."""
    steps = p.epochs * batches
    return min(steps, p.max_steps) if p.max_steps else steps


class Codistillation:
    """`members` models trained on the same batches, each distilling from stale copies of the others.

    The stale copies are refreshed at the end of the burn-in and every `refresh` steps after it
    (the checkpoint exchange); during the burn-in the distillation weight is 0.
    """

    def __init__(self, models: Sequence[nn.Module], p: Params, weight: float, refresh: int, burn_in: int) -> None:
        if len(models) < 2:
            raise ConfigError("codistillation needs at least two models")
        if refresh < 1:
            raise ConfigError(f"refresh_steps must be >= 1, got {refresh}")
        self.models, self.weight, self.refresh, self.burn_in = list(models), weight, refresh, burn_in
        self.optimizers = [ctr_optimizers(m, p.dense_lr, p.table_lr) for m in models]
        self.stale = [copy.deepcopy(m).eval() for m in models]
        self.steps = 0
        self.refreshes = 0

    def _refresh(self) -> None:
        for model, copy_ in zip(self.models, self.stale):
            copy_.load_state_dict(model.state_dict())
        self.refreshes += 1

    def step(self, batch: Any) -> float:
        """One step of every member on `batch`; returns member #1's loss."""
        if self.steps >= self.burn_in and (self.steps - self.burn_in) % self.refresh == 0:
            self._refresh()
        distilling = self.steps >= self.burn_in and self.weight > 0
        teacher_probs: list[torch.Tensor | None] = [None] * len(self.models)
        if distilling:
            with torch.no_grad():
                probs = [torch.sigmoid(copy_(batch).reshape(-1)) for copy_ in self.stale]
            total = torch.stack(probs).sum(0)
            teacher_probs = [(total - own) / (len(probs) - 1) for own in probs]
        losses = []
        for model, opt, teacher in zip(self.models, self.optimizers, teacher_probs):
            opt.zero_grad()
            loss = distillation_loss(model(batch).reshape(-1), batch.labels.reshape(-1).float(), teacher,
                                     self.weight if distilling else 0.0)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        self.steps += 1
        return losses[0]


def _validation(model: nn.Module, splits: Splits, labels: torch.Tensor) -> dict[str, float]:
    metrics = binary_metrics(predict_logits(model, splits.val), labels)
    return {"val_logloss": metrics["logloss"], "val_auc": metrics["auc"]}


def train_job(shared: _Shared, job: Job, progress: Progress) -> Trained:
    """Train one procedure run: a single DLRM (``single``) or a codistilled pair (``codistill``)."""
    kind, seed, weight, refresh = job
    p: Params = shared.ctx.params
    splits = shared.splits(seed)
    val_labels = labels_of(splits.val)
    seed_everything(seed)
    members = 1 if kind == "single" else 2
    models = [build_model(p, splits) for _ in range(members)]
    steps = total_steps(p, len(splits.train))
    if kind == "single":
        optimizers = ctr_optimizers(models[0], p.dense_lr, p.table_lr)

        def step(batch: Any) -> float:
            optimizers.zero_grad()
            loss = distillation_loss(models[0](batch).reshape(-1), batch.labels.reshape(-1).float(), None, 0.0)
            loss.backward()
            optimizers.step()
            return float(loss.detach())
    else:
        codistill = Codistillation(models, p, weight, refresh, burn_in=math.ceil(p.burn_in_fraction * steps))
        step = codistill.step
    progress.start_job(f"{kind}" + (f" psi={weight:g} R={refresh}" if kind != "single" else ""), seed, p.epochs)
    plan = LoopPlan(epochs=p.epochs, max_steps=p.max_steps or None, eval_every_steps=p.eval_every_steps)
    result = run_steps(step, splits.train, plan, lambda: _validation(models[0], splits, val_labels), progress)
    progress.end_job()
    logits = predict_logits(models[0], splits.test)
    metrics = {f"test_{k}": v for k, v in binary_metrics(logits, labels_of(splits.test)).items()}
    metrics.update({k: v for k, v in result.final.items()})
    return Trained(logits, metrics, result.curve, result.wall_time_s, result.examples_per_s)


def steps_to_target(curve: list[dict[str, float]], target: float, total: int) -> float:
    """The first evaluated step whose validation log loss is at most `target`; ``total + 1`` if none is."""
    for row in curve:
        if row["val_logloss"] <= target:
            return row["step"]
    return float(total + 1)


def ensemble_logits(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The logit of the mean predicted probability of two models."""
    return torch.logit((torch.sigmoid(a.double()) + torch.sigmoid(b.double())) / 2, eps=1e-12).float()


def _summarize(job: Job, trained: Trained) -> str:
    return f"{job[0]} seed {job[1]} psi {job[2]:g} R {job[3]}: test log loss {trained.metrics['test_logloss']:.4f}"


def run(ctx: ExperimentContext) -> ExperimentResult:
    """Baseline, ensemble and codistillation, each retrained twice per seed; churn, quality, steps to target."""
    p: Params = ctx.params
    world = init_from_env(ctx.device)
    if world.size > 1:
        raise ConfigError("codistillation: the claims checked here (churn, quality, staleness) are not about "
                          "distributed execution; run it without --nproc (the models train in one process)")
    shared = _Shared(dataclasses.replace(ctx, progress=NullProgress()))
    test_labels = labels_of(shared.splits(ctx.seeds[0]).test)
    retrain = [s + k * p.retrain_offset for s in ctx.seeds for k in (0, 1)]
    singles = [("single", s + e, 0.0, 0) for s in retrain for e in (0, p.ensemble_offset)]
    weights = [p.distill_weight, *p.weight_ablation]
    pairs = [("codistill", s, w, p.refresh_steps) for w in weights for s in retrain]
    stale = [("codistill", s, p.distill_weight, r) for r in p.refresh_ablation for s in ctx.seeds]
    jobs: list[Job] = [*singles, *pairs, *stale]
    trained = dict(zip(jobs, run_jobs(train_job, shared, jobs, ctx.jobs, ctx.progress, _summarize)))
    steps = total_steps(p, len(shared.splits(ctx.seeds[0]).train))
    runs: list[SeedRun] = []

    def add(name: str, seed: int, first: Trained, second: Trained | None, target: float, config: dict[str, Any]) -> None:
        metrics = dict(first.metrics)
        if second is not None:
            metrics.update({f"test_{k}": v for k, v in prediction_churn(first.test_logits, second.test_logits).items()})
            metrics["test_churn_x0p7"] = 0.7 * metrics["test_churn"]
            metrics["test_churn_x1p2"] = 1.2 * metrics["test_churn"]
        if first.curve:
            metrics["steps_to_target"] = steps_to_target(first.curve, target, steps)
        runs.append(SeedRun(model=name, seed=seed, metrics=metrics, curve=first.curve, wall_time_s=first.wall_time_s,
                            examples_per_s=first.examples_per_s, config=config))

    for s in ctx.seeds:
        s2 = s + p.retrain_offset
        base, base2 = trained["single", s, 0.0, 0], trained["single", s2, 0.0, 0]
        target = base.metrics["val_logloss"]
        add("baseline", s, base, base2, target, {"retrain_seeds": [s, s2]})
        ens = [ensemble_logits(trained["single", x, 0.0, 0].test_logits,
                               trained["single", x + p.ensemble_offset, 0.0, 0].test_logits) for x in (s, s2)]
        ens_runs = [Trained(logits, {f"test_{k}": v for k, v in binary_metrics(logits, test_labels).items()})
                    for logits in ens]
        add("ensemble", s, ens_runs[0], ens_runs[1], target, {"members": 2})
        for w in weights:
            name = "codistill" if w == p.distill_weight else f"codistill_w{w:g}".replace(".", "p")
            add(name, s, trained["codistill", s, w, p.refresh_steps], trained["codistill", s2, w, p.refresh_steps],
                target, {"distill_weight": w, "refresh_steps": p.refresh_steps})
        for r in p.refresh_ablation:
            add(f"codistill_r{r}", s, trained["codistill", s, p.distill_weight, r], None, target,
                {"distill_weight": p.distill_weight, "refresh_steps": r})
    manifest = shared.splits(ctx.seeds[0]).manifest
    synthetic = "SYNTHETIC: labels from a hidden teacher DLRM, planted structure" if "synthetic" in p.dataset else "real"
    notes = [
        f"Data: {p.dataset} ({synthetic}), {manifest.get('splits')}; DLRM bottom {list(p.bottom)}, top {list(p.top)}, "
        f"dim {p.dim}; Adam {p.dense_lr:g} (MLPs), Adagrad {p.table_lr:g} (tables); batch {p.batch_size}, "
        f"{p.epochs} epoch(s) ({steps} steps) for every model.",
        f"Codistillation: 2 members on the same batches, psi = {p.distill_weight:g} after a burn-in of "
        f"{p.burn_in_fraction:.0%} of the steps, stale copies refreshed every {p.refresh_steps} steps; "
        "model #1 of each run is deployed. Churn = mean |p_run1 - p_run2| on the test split between two retrains "
        f"(seeds s and s + {p.retrain_offset}: initialisation and data order); the ensemble averages the "
        f"probabilities of models seeded s and s + {p.ensemble_offset}.",
        "Steps to target: first validation step (every "
        f"{p.eval_every_steps}) with a log loss at most the same seed's baseline's final one; the paper's 2x "
        "speed-up is on Common Crawl with data-sharded groups at a scale no CPU run reaches.",
    ]
    models = {"baseline": {"description": "one DLRM"}, "ensemble": {"description": "mean of two DLRMs"},
              **{name: {"description": "DLRM, model #1 of a codistilled pair"} for name in
                 {r.model for r in runs if r.model.startswith("codistill")}}}
    return ExperimentResult(runs=runs, dataset=manifest, protocol_notes=notes, models=models)
