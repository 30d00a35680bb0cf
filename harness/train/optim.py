"""Dense and sparse optimisers: FBGEMM's fused embedding optimisers through TorchRec, torch for the rest.

Recommendation models train their embedding tables with row-sparse updates fused into the
backward pass of FBGEMM's table-batched embedding kernel (TBE), and their dense layers with an
ordinary optimiser (facebookresearch/dlrm; TorchRec's ``FusedEmbeddingBagCollection`` and
``DistributedModelParallel``). :func:`build_optimizers` does exactly that:

* ``EmbeddingBagCollection`` modules become ``FusedEmbeddingBagCollection`` (weights kept) whose
  TBE applies ``sgd`` (EXACT_SGD), ``rowwise_adagrad`` (EXACT_ROWWISE_ADAGRAD) or ``adam``
  inside the backward; their state is exposed as a TorchRec ``KeyedOptimizer`` for checkpoints.
* Under ``DistributedModelParallel`` the sharded modules already carry the fused optimiser
  (see :mod:`harness.train.distributed`); it is taken from ``model.fused_optimizer``.
* The plain-PyTorch fallback (``EmbeddingBagList``) produces sparse gradients and gets torch's
  sparse-aware counterpart (SGD, exact Adagrad, SparseAdam): again only looked-up rows move.

Every remaining parameter goes to the dense optimiser named by ``TrainConfig.optimizer``
(:data:`DENSE_OPTIMIZERS`; ``amsgrad`` is Adam with the AMSGrad maximum of second moments, Reddi
et al., ICLR 2018, the optimiser of Ginart et al. 2019's CTR experiments). A whole table is never
updated densely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torchrec.distributed.model_parallel import DistributedModelParallel
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.modules.fused_embedding_modules import fuse_embedding_optimizer
from torchrec.optim import RowWiseAdagrad
from torchrec.optim.fused import FusedOptimizerModule
from torchrec.optim.optimizers import in_backward_optimizer_filter

from harness.errors import ConfigError
from harness.models.embedding import EmbeddingBagList

DENSE_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "amsgrad": partial(torch.optim.Adam, amsgrad=True),
}
# TorchRec maps these optimiser classes onto FBGEMM's fused TBE optimisers.
FUSED_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "rowwise_adagrad": RowWiseAdagrad,
    "adagrad": torch.optim.Adagrad,
    "adam": torch.optim.Adam,
}
# FBGEMM's CPU TBE implements only the exact SGD/Adagrad family; Adam needs CUDA.
CUDA_ONLY_FUSED = ("adam",)
# The torch fallback's sparse-gradient counterparts (no row-wise Adagrad in torch).
TORCH_SPARSE_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "adam": torch.optim.SparseAdam,
}


@dataclass(frozen=True)
class SparseSpec:
    """The embedding optimiser: a name from :data:`FUSED_OPTIMIZERS` and its hyper-parameters."""

    name: str
    lr: float
    eps: float = 1e-8

    def fused(self, device: torch.device) -> tuple[type[torch.optim.Optimizer], dict[str, Any]]:
        """The (optimiser class, kwargs) TorchRec fuses into FBGEMM's TBE backward on `device`."""
        if self.name not in FUSED_OPTIMIZERS:
            raise ConfigError(f"sparse optimizer {self.name!r} is not fused by FBGEMM; "
                              f"choose one of {', '.join(FUSED_OPTIMIZERS)}")
        if self.name in CUDA_ONLY_FUSED and device.type != "cuda":
            raise ConfigError(f"sparse optimizer {self.name!r}: FBGEMM's CPU kernel has no fused {self.name}; "
                              "on CPU use sgd, adagrad or rowwise_adagrad (or backend='torch' for SparseAdam)")
        kwargs: dict[str, Any] = {"lr": self.lr}
        if self.name != "sgd":
            kwargs["eps"] = self.eps
        return FUSED_OPTIMIZERS[self.name], kwargs


@dataclass
class Optimizers:
    """The dense optimiser plus the sparse ones, stepped, zeroed and checkpointed together.

    Fused sparse optimisers update inside ``backward``; their ``step`` only syncs the learning
    rate, so calling :meth:`step` after ``backward`` is right for every kind.
    """

    dense: torch.optim.Optimizer
    sparse: list[Any] = field(default_factory=list)

    def zero_grad(self) -> None:
        """Drop the gradients of every optimiser."""
        self.dense.zero_grad(set_to_none=True)
        for opt in self.sparse:
            opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        """Apply the dense update (and the sparse one where it is not fused into backward)."""
        self.dense.step()
        for opt in self.sparse:
            opt.step()

    def state_dict(self) -> dict[str, Any]:
        """All optimiser states, including the fused embedding states (momenta)."""
        return {"dense": self.dense.state_dict(), "sparse": [opt.state_dict() for opt in self.sparse]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (fused states are copied into FBGEMM's buffers)."""
        self.dense.load_state_dict(state["dense"])
        if len(state["sparse"]) != len(self.sparse):
            raise ValueError(f"checkpoint has {len(state['sparse'])} sparse optimizers, model {len(self.sparse)}")
        for opt, saved in zip(self.sparse, state["sparse"]):
            opt.load_state_dict(saved)


def make_dense_optimizer(params: Iterable[nn.Parameter], name: str, lr: float,
                         weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The dense optimiser `name` (a clear error for an unknown name)."""
    try:
        factory = DENSE_OPTIMIZERS[name]
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; known: {', '.join(DENSE_OPTIMIZERS)}") from None
    return factory(params, lr=lr, weight_decay=weight_decay)


def fuse_embeddings(model: nn.Module, spec: SparseSpec, device: torch.device) -> nn.Module:
    """Turn every ``EmbeddingBagCollection`` of `model` into a fused one, keeping its weights."""
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    fused_class, kwargs = spec.fused(device)
    if isinstance(model, EmbeddingBagCollection):
        raise ValueError("wrap the EmbeddingBagCollection in a model; it is replaced in place")
    fuse_embedding_optimizer(model, fused_class, kwargs, device)
    model.load_state_dict(saved, strict=True)
    return model


def _sparse_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (FusedOptimizerModule, EmbeddingBagList))]


def build_optimizers(model: nn.Module, dense_name: str, lr: float, weight_decay: float,
                     sparse: SparseSpec | None, device: torch.device) -> tuple[nn.Module, Optimizers]:
    """Split `model` into fused/sparse embeddings and dense parameters and build their optimisers.

    With `sparse` None every parameter goes to the dense optimiser (models without tables).
    Returns the (possibly modified in place) model and its :class:`Optimizers`.
    """
    if sparse is None:
        return model, Optimizers(make_dense_optimizer(model.parameters(), dense_name, lr, weight_decay))
    sparse_opts: list[Any] = []
    if isinstance(model, DistributedModelParallel):
        sparse_opts.append(model.fused_optimizer)
        dense = [p for _, p in in_backward_optimizer_filter(model.named_parameters())]
        return model, Optimizers(make_dense_optimizer(dense, dense_name, lr, weight_decay), sparse_opts)
    if any(isinstance(m, EmbeddingBagCollection) for m in model.modules()):
        fuse_embeddings(model, spec=sparse, device=device)
    sparse_ids: set[int] = set()
    for module in _sparse_modules(model):
        params = list(module.parameters())
        sparse_ids.update(id(p) for p in params)
        if isinstance(module, FusedOptimizerModule):
            sparse_opts.append(module.fused_optimizer())
        else:
            if sparse.name not in TORCH_SPARSE_OPTIMIZERS:
                raise ConfigError(f"sparse optimizer {sparse.name!r} has no torch fallback; with "
                                  f"backend='torch' use one of {', '.join(TORCH_SPARSE_OPTIMIZERS)}")
            sparse_opts.append(TORCH_SPARSE_OPTIMIZERS[sparse.name](params, lr=sparse.lr))
    dense = [p for p in model.parameters() if id(p) not in sparse_ids]
    return model, Optimizers(make_dense_optimizer(dense, dense_name, lr, weight_decay), sparse_opts)
