"""The multilayer perceptron every recommendation model is built from."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """Linear layers with ReLU between them (and optionally after the last one).

    `sizes` lists the widths from input to output, e.g. ``[13, 512, 256, 64, 16]`` for DLRM's
    bottom MLP (Naumov et al. 2019, Sec. 3). `activate_last` keeps a ReLU after the final layer,
    as expert networks and DLRM's bottom MLP do; a logit head leaves it off. Every activated layer
    is ``Linear -> [BatchNorm1d] -> ReLU -> [Dropout]`` (FuxiCTR's ``MLP_Block`` order, which the
    BARS baselines and Wukong's head use with `batch_norm`); a last layer left unactivated is a bare
    ``Linear``.
    """

    def __init__(self, sizes: list[int], activate_last: bool = True, dropout: float = 0.0,
                 batch_norm: bool = False) -> None:
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least an input and an output size, got {sizes}")
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2 or activate_last:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(fan_out))
                layers.append(nn.ReLU(inplace=True))
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)
        self.out_features = sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[batch, sizes[0]]`` to ``[batch, sizes[-1]]``."""
        return self.layers(x)
