"""Optimisers: FBGEMM's fused updates touch only looked-up rows and match the textbook rules; dense ones by name."""

from __future__ import annotations

from typing import Callable

import pytest
import torch

from harness.errors import ConfigError
from harness.train.optim import SparseSpec, build_optimizers, make_dense_optimizer
from harness.train.synthetic import random_ctr_batches
from train_helpers import ROWS, small_dlrm

CPU = torch.device("cpu")


def _one_step(backend: str, name: str, lr: float = 0.5) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """State before and after one step from the same initial weights (those of the torchrec model)."""
    torch.manual_seed(0)
    weights = small_dlrm("torchrec").state_dict()
    model = small_dlrm(backend)
    model.load_state_dict(weights)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model, opts = build_optimizers(model, "sgd", 0.1, 0.0, SparseSpec(name, lr), CPU)
    batch = random_ctr_batches(1, 8, 4, ROWS, seed=1)[0]
    torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch.labels).backward()
    opts.step()
    return before, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["sgd", "rowwise_adagrad", "adagrad"])
def test_fused_update_touches_only_looked_up_rows(name: str) -> None:
    ids = random_ctr_batches(1, 8, 4, ROWS, seed=1)[0].sparse_features.to_dict()
    before, after = _one_step("torchrec", name)
    for f in range(len(ROWS)):
        key = f"sparse.collection.embedding_bags.t_f{f}.weight"
        changed = (before[key] != after[key]).any(dim=1).nonzero().flatten()
        assert set(changed.tolist()) <= set(ids[f"f{f}"].values().tolist())
        assert changed.numel() > 0


def test_fused_sgd_equals_sparse_torch_sgd() -> None:
    fused_before, fused_after = _one_step("torchrec", "sgd")
    torch_before, torch_after = _one_step("torch", "sgd")
    for key in fused_before:
        torch.testing.assert_close(fused_before[key], torch_before[key])
        torch.testing.assert_close(fused_after[key], torch_after[key], rtol=1e-5, atol=1e-6)


def test_rowwise_adagrad_keeps_one_state_per_row() -> None:
    torch.manual_seed(0)
    model, opts = build_optimizers(small_dlrm(), "sgd", 0.1, 0.0, SparseSpec("rowwise_adagrad", 0.1), CPU)
    state = opts.state_dict()["sparse"][0]["state"]
    assert state["t_f0.weight"]["t_f0.weight.momentum_1"].shape == (ROWS[0],)


def test_dense_optimizer_never_sees_the_tables() -> None:
    torch.manual_seed(0)
    model, opts = build_optimizers(small_dlrm(), "sgd", 0.1, 0.0, SparseSpec("sgd", 0.1), CPU)
    dense_ids = {id(p) for group in opts.dense.param_groups for p in group["params"]}
    tables = [p for n, p in model.named_parameters() if "embedding_bags" in n]
    assert tables and not any(id(p) in dense_ids for p in tables)


def test_unsupported_combinations_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="CPU"):
        SparseSpec("adam", 0.1).fused(CPU)
    with pytest.raises(ConfigError, match="fallback"):
        build_optimizers(small_dlrm("torch"), "sgd", 0.1, 0.0, SparseSpec("rowwise_adagrad", 0.1), CPU)


def _steps(optimizer_of: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]) -> torch.Tensor:
    """A parameter after three steps of `optimizer_of` with a large, then small gradients (AMSGrad's case)."""
    param = torch.nn.Parameter(torch.ones(2))
    optimizer = optimizer_of([param])
    for scale in (10.0, 0.1, 0.1):
        param.grad = torch.full_like(param, scale)
        optimizer.step()
    return param.detach()


def test_amsgrad_is_adam_keeping_the_max_second_moment() -> None:
    amsgrad = _steps(lambda params: make_dense_optimizer(params, "amsgrad", 0.1))
    torch.testing.assert_close(amsgrad, _steps(lambda params: torch.optim.Adam(params, lr=0.1, amsgrad=True)),
                               rtol=0, atol=0)
    # Plain Adam's second moment decays after the large gradient, so its later steps are larger.
    assert not torch.equal(amsgrad, _steps(lambda params: make_dense_optimizer(params, "adam", 0.1)))
