"""The DHEN layer and model (Zhang et al., "DHEN: A Deep and Hierarchical Ensemble Network for
Large-Scale Click-Through Rate Prediction", KDD 2022, arXiv 2203.11014, Sec. 3).

Embeddings are rows here: ``X_n [B, m, d]`` (the paper writes ``d x m``). One layer (Eq. 1-2):

    Y = LayerNorm( Ensemble_{i=1..k} Interaction_i(X_n) + ShortCut(X_n) )          post-norm, over d
    ShortCut(X_n) = X_n if len(X_n) == len(Y), else W_n X_n (a map along the embedding axis, no bias)
    Ensemble in {sum, weighted sum (one learned scalar per module, initialised to 1), concat}

Every interaction module maps ``X_n [B, m, d]`` to ``u [B, l, d]`` (Sec. 3.2):

* :class:`AdvancedDLRMModule` (Eq. 3): ``u = reshape(W_m MLP([flatten(X); triu(X X^T, 1)]))``.
  **Substitution:** Meta's "AdvancedDLRM" internals are not public; this is DLRM's dot
  interaction (the suite's :class:`~harness.models.interaction.DotInteraction`, upper triangle
  without the diagonal) with the flattened embeddings, an MLP and a linear projection to ``l x d``.
* :class:`LinearModule` (Eq. 6): ``u = W X``, ``W in R^{l x m}`` (no non-linearity; the same
  operation as Wukong's linear compression block).
* :class:`SelfAttentionModule` (Eq. 4): a Transformer encoder layer over the ``m`` embeddings
  (``nhead`` heads, feed-forward ``4d``, no dropout), then ``W: m -> l`` along the embedding axis.
* :class:`ConvModule` (Eq. 5): a ``3 x 3`` convolution of ``X`` as a one-channel ``m x d`` image,
  "same" padding, then ``W: m -> l``.
* :class:`DCNModule` (Eq. 7, "u = W(X X^T) + b"): read as DCN-v1's cross *without* its own
  residual (DHEN adds the shortcut): ``u = reshape(x (x^T w) + b)`` on ``x = flatten(X)``; ``l = m``.

Prediction head: ``flatten(X_N) -> MLP -> logit``. The prediction uses no other path (no separate
dense tower): dense features, if any, enter through the front-end as one more embedding.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

from harness.models.dlrm import SparseDenseBatch
from harness.models.fields import FieldEmbeddings, FieldLinear
from harness.models.interaction import DotInteraction
from harness.models.mlp import MLP

Ensemble = Literal["sum", "weighted", "concat"]
MODULES = ("dlrm", "linear", "attention", "conv", "dcn")


class AdvancedDLRMModule(nn.Module):
    """DLRM interaction + MLP + projection (Eq. 3, the AdvancedDLRM substitution): ``[B, m, d] -> [B, l, d]``.

    `hidden` are the MLP's widths (ReLU after each); the projection ``W_m`` is linear.
    """

    def __init__(self, num_inputs: int, num_outputs: int, dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("the AdvancedDLRM module needs at least one MLP width")
        self.num_outputs, self.dim = num_outputs, dim
        self.interaction = DotInteraction(num_inputs - 1)
        self.features_dim = num_inputs * dim + self.interaction.num_pairs
        self.mlp = MLP([self.features_dim, *hidden], activate_last=True)
        self.projection = nn.Linear(hidden[-1], num_outputs * dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[flatten(X); triu(X X^T, 1)]``: ``[B, m d + m (m - 1) / 2]``."""
        pairs = self.interaction(x[:, 0], x[:, 1:])[:, self.dim:]
        return torch.cat([x.flatten(1), pairs], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, m, d]`` -> ``[B, l, d]``."""
        return self.projection(self.mlp(self.features(x))).view(-1, self.num_outputs, self.dim)


class LinearModule(FieldLinear):
    """``u = W X`` with ``W in R^{l x m}`` (Eq. 6), no bias: ``[B, m, d] -> [B, l, d]``."""

    def __init__(self, num_inputs: int, num_outputs: int) -> None:
        super().__init__(num_inputs, num_outputs, bias=False)


class SelfAttentionModule(nn.Module):
    """Transformer encoder layer over the embeddings, then ``W: m -> l`` (Eq. 4): ``[B, m, d] -> [B, l, d]``."""

    def __init__(self, num_inputs: int, num_outputs: int, dim: int, num_heads: int = 2) -> None:
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(d_model=dim, nhead=num_heads, dim_feedforward=4 * dim,
                                                  dropout=0.0, batch_first=True)
        self.projection = FieldLinear(num_inputs, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, m, d]`` -> ``[B, l, d]``."""
        return self.projection(self.encoder(x))


class ConvModule(nn.Module):
    """3 x 3 convolution of ``X`` as a one-channel ``m x d`` image, then ``W: m -> l`` (Eq. 5)."""

    def __init__(self, num_inputs: int, num_outputs: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, kernel_size, padding="same")
        self.projection = FieldLinear(num_inputs, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, m, d]`` -> ``[B, l, d]``."""
        return self.projection(self.conv(x.unsqueeze(1)).squeeze(1))


class DCNModule(nn.Module):
    """DCN-v1's cross without its residual, ``reshape(x (x^T w) + b)`` on ``x = flatten(X)`` (Eq. 7); ``l = m``."""

    def __init__(self, num_inputs: int, dim: int) -> None:
        super().__init__()
        width = num_inputs * dim
        self.weight = nn.Parameter(torch.empty(width))
        self.bias = nn.Parameter(torch.zeros(width))
        nn.init.normal_(self.weight, std=width ** -0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, m, d]`` -> ``[B, m, d]``."""
        flat = x.flatten(1)
        return (flat * (flat @ self.weight).unsqueeze(1) + self.bias).view_as(x)


def make_module(name: str, num_inputs: int, num_outputs: int, dim: int, dlrm_hidden: Sequence[int] = (64,),
                num_heads: int = 2) -> nn.Module:
    """The interaction module `name` (one of :data:`MODULES`) mapping `num_inputs` to `num_outputs` embeddings."""
    if name == "dlrm":
        return AdvancedDLRMModule(num_inputs, num_outputs, dim, dlrm_hidden)
    if name == "linear":
        return LinearModule(num_inputs, num_outputs)
    if name == "attention":
        return SelfAttentionModule(num_inputs, num_outputs, dim, num_heads)
    if name == "conv":
        return ConvModule(num_inputs, num_outputs)
    if name == "dcn":
        if num_outputs != num_inputs:
            raise ValueError(f"the DCN module keeps the embedding count (l = m = {num_inputs}), got l = {num_outputs}")
        return DCNModule(num_inputs, dim)
    raise ValueError(f"unknown DHEN module {name!r}; known: {', '.join(MODULES)}")


class DHENLayer(nn.Module):
    """``LayerNorm(Ensemble_i u_i(X) + ShortCut(X))`` (Eq. 1-2): ``[B, m, d] -> [B, l_out, d]``.

    `modules` each map ``m`` to ``l`` embeddings (``sum`` / ``weighted``: all the same ``l``;
    ``concat``: ``l_out`` is the sum of theirs); `num_outputs` is ``l_out``. The LayerNorm
    normalises each embedding over ``d``, after the shortcut is added (post-norm).
    """

    def __init__(self, modules: Sequence[nn.Module], num_inputs: int, num_outputs: int, dim: int,
                 ensemble: Ensemble = "sum") -> None:
        super().__init__()
        if not modules:
            raise ValueError("a DHEN layer needs at least one interaction module")
        if ensemble not in ("sum", "weighted", "concat"):
            raise ValueError(f"DHEN ensemble must be 'sum', 'weighted' or 'concat', got {ensemble!r}")
        self.interactions = nn.ModuleList(modules)
        self.ensemble = ensemble
        self.module_weights = nn.Parameter(torch.ones(len(modules))) if ensemble == "weighted" else None
        self.shortcut = FieldLinear(num_inputs, num_outputs) if num_inputs != num_outputs else None
        self.norm = nn.LayerNorm(dim)
        self.num_outputs = num_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``X_n [B, m, d]`` -> ``X_{n+1} [B, l_out, d]``."""
        outputs = [module(x) for module in self.interactions]
        if self.ensemble == "concat":
            mixed = torch.cat(outputs, dim=1)
        elif self.module_weights is not None:
            mixed = sum(w * u for w, u in zip(self.module_weights, outputs))
        else:
            mixed = sum(outputs)
        if mixed.shape[1] != self.num_outputs:
            raise ValueError(f"the ensemble gives {mixed.shape[1]} embeddings, the layer was built for "
                             f"{self.num_outputs}")
        return self.norm(mixed + (x if self.shortcut is None else self.shortcut(x)))


class DHEN(nn.Module):
    """Field embeddings -> `num_layers` DHEN layers -> MLP head over ``flatten(X_N)``; logits ``[B]``.

    Every layer ensembles the modules named in `modules` (e.g. ``("dlrm", "linear")``, the paper's
    main pair) with `ensemble`; each module outputs `num_outputs` embeddings (default ``m``, so the
    shortcut is the identity with ``sum``); with ``concat`` a layer outputs ``len(modules) *
    num_outputs``. `dlrm_hidden` are the AdvancedDLRM module's MLP widths, `head` the head's
    hidden widths.
    """

    def __init__(self, fields: FieldEmbeddings, num_layers: int, modules: Sequence[str] = ("dlrm", "linear"),
                 ensemble: Ensemble = "sum", num_outputs: int | None = None, dlrm_hidden: Sequence[int] = (64,),
                 head: Sequence[int] = (64, 32), num_heads: int = 2) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"DHEN needs at least one layer, got {num_layers}")
        self.fields = fields
        per_module = num_outputs or fields.num_fields
        width = per_module * (len(modules) if ensemble == "concat" else 1)
        layers = []
        for i in range(num_layers):
            inputs = fields.num_fields if i == 0 else width
            built = [make_module(name, inputs, per_module, fields.dim, dlrm_hidden, num_heads) for name in modules]
            layers.append(DHENLayer(built, inputs, width, fields.dim, ensemble))
        self.layers = nn.Sequential(*layers)
        self.head = MLP([width * fields.dim, *head, 1], activate_last=False)

    def forward(self, batch: SparseDenseBatch) -> torch.Tensor:
        """Logits ``[B]`` of a batch with ``dense_features`` and ``sparse_features``."""
        return self.head(self.layers(self.fields(batch)).flatten(1)).squeeze(1)
