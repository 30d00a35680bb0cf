"""Multi-task models: shapes and gradients of every experiment model, and AdaTT's defining properties."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from harness.models.multitask import PLE, MultiTaskModel
from harness.train.trainer import TensorBatch
from papers.adatt.adatt import AdaTT, NativeWeights
from papers.adatt.experiment import MODELS, build_model

TASKS, D, B = 3, 20, 16


@pytest.mark.parametrize("name", list(MODELS))
def test_model_maps_a_batch_to_task_logits_and_trains_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, D, TASKS, [32])
    batch = TensorBatch(torch.rand(B, D), torch.randint(0, 2, (B, TASKS)).float())
    logits = model(batch)
    assert logits.shape == (B, TASKS)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.labels).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"{name}: parameters without gradient: {missing}"


def _same_experts(body: AdaTT) -> None:
    """Give every expert of every level the same weights."""
    for level in body.levels:
        experts = [e for group in level.groups for e in group.experts]
        for expert in experts[1:]:
            expert.load_state_dict(experts[0].state_dict())


@pytest.mark.parametrize("task_experts,native,scale", [(1, True, "two"), (1, False, "one"), (2, True, "v"),
                                                       (3, False, "one")])
def test_identical_experts_expose_gate_and_native_weights(task_experts: int, native: bool, scale: str) -> None:
    """With identical experts, the softmax gate (Eq. 9) returns the expert itself and NativeExpertLF (Eq. 8)
    adds it again with weight sum(v): 1 for a single native expert (Sec. 3.1.1), nothing without it (Table 6)."""
    torch.manual_seed(1)
    body = AdaTT(D, [[8]], TASKS, task_experts, native_fusion=native)
    _same_experts(body)
    x = torch.rand(B, D)
    expert_out = body.levels[0].groups[0].experts[0](x)
    out = body(x)
    for t in range(TASKS):
        if scale == "one":
            factor = 1.0
        elif scale == "two":
            factor = 2.0
        else:
            factor = 1.0 + float(body.levels[0].native[t].weights.detach().sum())
        torch.testing.assert_close(out[:, t], factor * expert_out)


def test_native_weights_fixed_for_one_expert_and_initialised_in_range() -> None:
    assert list(NativeWeights(1).parameters()) == []
    torch.manual_seed(0)
    v = NativeWeights(4).weights
    assert v.requires_grad and v.abs().max() <= math.sqrt(1 / 4)


def test_general_adatt_learns_v_when_any_unit_has_other_than_one_expert() -> None:
    """facebookresearch/AdaTT AdaTTWSharedExps: one expert per task and two shared experts -> every unit's v is
    learned, a one-expert unit's initialised U(-sqrt(1/1), sqrt(1/1)) = U(-1, 1), the shared unit's
    U(-sqrt(1/2), sqrt(1/2)); the top level has no shared unit's v (it only supplies experts)."""
    torch.manual_seed(0)
    body = AdaTT(D, [[8], [4]], TASKS, 1, shared_experts=2)
    bottom, top = body.levels
    assert [tuple(v.weights.shape) for v in bottom.native] == [(1,)] * TASKS + [(2,)]
    assert len(top.native) == TASKS
    for level in (bottom, top):
        for v in level.native:
            assert v.weights.requires_grad and v.weights.abs().max() <= math.sqrt(1 / v.weights.numel())
    # Initialised uniformly, not at the fixed 1: over 3 tasks x 2 levels a draw of exactly 1 is impossible.
    assert all(float(v.weights) != 1.0 for level in (bottom, top) for v in level.native[:TASKS])
    body(torch.rand(B, D)).sum().backward()
    assert all(v.weights.grad is not None for level in (bottom, top) for v in level.native)
    # Every unit with one expert and no shared experts: the official module's fixed ones (AdaTTSp).
    assert all(list(v.parameters()) == [] for v in AdaTT(D, [[8]], TASKS, 1).levels[0].native)
    assert all(list(v.parameters()) == [] for v in AdaTT(D, [[8]], TASKS, 1, shared_experts=1).levels[0].native)


def test_task_to_task_fusion_reaches_other_tasks_experts_unlike_cgc() -> None:
    """AdaTT fuses every task's experts into each task (Eq. 9); a CGC task unit sees only its own and the
    shared experts, so task 0's loss reaches task 1's experts in AdaTT but not in one-level PLE."""
    torch.manual_seed(0)
    x = torch.rand(B, D)
    adatt = AdaTT(D, [[8]], TASKS, 2)
    adatt(x)[:, 0].sum().backward()
    assert adatt.levels[0].groups[1].experts[0].layers[0].weight.grad.abs().sum() > 0
    cgc = PLE(D, [[8]], TASKS, 2, 1)
    cgc(x)[:, 0].sum().backward()
    grad = cgc.levels[0].task_groups[1].experts[0].layers[0].weight.grad
    assert grad is None or not grad.abs().sum() > 0


def test_general_adatt_shared_unit_only_supplies_experts_at_the_top_level() -> None:
    """Sec. 3.2: the shared unit fuses below the top level, and at the top only feeds the task units."""
    body = AdaTT(D, [[8], [4]], TASKS, 1, shared_experts=2)
    assert len(body.levels[0].gates) == TASKS + 1 and len(body.levels[1].gates) == TASKS
    assert body(torch.rand(B, D)).shape == (B, TASKS, 4)
    assert AdaTT(D, [[8]], TASKS, 1).units == TASKS  # AdaTT-sp: no shared unit


def test_multitask_model_reads_the_trainer_batch() -> None:
    model = MultiTaskModel(AdaTT(D, [[8]], TASKS, 1), TASKS, [4])
    assert model(TensorBatch(torch.rand(5, D), torch.zeros(5, TASKS))).shape == (5, TASKS)


def test_general_adatt_equals_the_official_module_with_learned_v() -> None:
    """Golden fixture from facebookresearch/AdaTT's AdaTTWSharedExps (one expert per task, two shared experts,
    so v is learned in every unit), its weights loaded into ours: the outputs agree."""
    golden = torch.load(Path(__file__).parents[1] / "fixtures" / "adatt_official_shared_experts.pt")
    body = AdaTT(D, [[8], [4]], TASKS, 1, shared_experts=2)
    body.load_state_dict(golden["state_dict"])
    with torch.no_grad():
        torch.testing.assert_close(body(golden["input"]), golden["output"], rtol=0, atol=1e-6)
