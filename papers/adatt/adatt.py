"""AdaTT: Adaptive Task-to-Task Fusion Network (Li et al., KDD'23, arXiv 2304.04959, Sec. 3).

A stack of fusion levels. At level l, the task-specific unit of task t builds m_t *native* experts
on its own input f_t^{l-1} (Eq. 4), stacks them with every other unit's experts into E^l (Eq. 5-6)
and outputs

    f_t^l = AllExpertGF_t^l(E^l, G_t^l) + NativeExpertLF_t^l(E_t^l)                      (Eq. 7)
          = (G_t^l)^T E^l + (v_t^l)^T E_t^l                                            (Eq. 8-9)
          = (pad(v_t^l)^T + (G_t^l)^T) E^l,                                            (Eq. 11)

with a softmax gate G_t^l = softmax(W_t^l f_t^{l-1}) over all experts (Eq. 10) and a learned
vector v_t^l over the native experts (Sec. 3.1.1). As in the official module, v is fixed to 1 only
when every unit of the model has exactly one expert; as soon as one unit has another count (AdaTT-sp
with m > 1, or general AdaTT with single-expert tasks and a multi-expert shared unit), every
unit's v is learned, initialised U(-sqrt(1/m), sqrt(1/m)) (U(-1, 1) for a one-expert unit). Level 0 feeds the raw
input to every unit (Eq. 2); towers sit on the top level's task units (Eq. 1).

General AdaTT (Sec. 3.2) adds an optional shared unit with its own experts and gate; at the top
level it only supplies experts. Without it the model is AdaTT-sp (Sec. 3.1), the setting of the
paper's census results (Table 5 caption). ``native_fusion=False`` drops NativeExpertLF: the
ablation of Sec. 4.4 / Table 6.

Structure checked against facebookresearch/AdaTT (mtl_lib.py, classes AdaTTSp and
AdaTTWSharedExps, including when v is learned and its U(-sqrt(1/m), sqrt(1/m)) initialisation);
the code is ours.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.models.multitask import ExpertGroup, Gate, mix


class NativeWeights(nn.Module):
    """The vector v_t^l of NativeExpertLF (Eq. 8): learned, or a fixed 1 (by default: learned for m > 1).

    `learned` follows facebookresearch/AdaTT: ``AdaTTSp`` learns v when its units have more than one
    expert; ``AdaTTWSharedExps`` learns every unit's v when any unit's expert count is not 1.
    """

    def __init__(self, num_experts: int, learned: bool | None = None) -> None:
        super().__init__()
        if learned if learned is not None else num_experts > 1:
            scale = math.sqrt(1.0 / num_experts)
            self.weights = nn.Parameter(torch.empty(num_experts).uniform_(-scale, scale))
        else:
            self.register_buffer("weights", torch.ones(num_experts))

    def forward(self) -> torch.Tensor:
        """The weights as a row ``[1, num_experts]``."""
        return self.weights.unsqueeze(0)


class FusionLevel(nn.Module):
    """One AdaTT fusion level: a task-specific fusion unit per task, plus an optional shared unit.

    Input ``[batch, units, d_in]``: unit t's input f_t^{l-1} (tasks first, the shared unit last).
    Output ``[batch, units', d_out]`` with units' = units, or the tasks only at the `top` level.
    """

    def __init__(self, input_dim: int, dims: list[int], num_tasks: int, task_experts: int,
                 shared_experts: int, native_fusion: bool, top: bool) -> None:
        super().__init__()
        self.experts_per_unit = [task_experts] * num_tasks + ([shared_experts] if shared_experts else [])
        fusing_units = num_tasks if top else len(self.experts_per_unit)
        total = sum(self.experts_per_unit)
        self.groups = nn.ModuleList(ExpertGroup(input_dim, dims, m) for m in self.experts_per_unit)
        self.gates = nn.ModuleList(Gate(input_dim, total) for _ in range(fusing_units))
        learned = any(m != 1 for m in self.experts_per_unit)  # official: fixed ones only if all units have one
        self.native = nn.ModuleList(NativeWeights(m, learned) for m in self.experts_per_unit[:fusing_units]) \
            if native_fusion else None
        self.out_features = dims[-1]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Fuse every unit's experts into each fusing unit's output (Eq. 11)."""
        experts = torch.cat([group(inputs[:, u]) for u, group in enumerate(self.groups)], dim=1)  # E^l, Eq. 6
        weights = torch.stack([gate(inputs[:, u]) for u, gate in enumerate(self.gates)], dim=1)  # G^l, Eq. 10
        if self.native is not None:
            padded = torch.block_diag(*(v() for v in self.native))  # pad(v_t^l), Eq. 11
            weights = weights + nn.functional.pad(padded, (0, experts.shape[1] - padded.shape[1]))
        return mix(weights, experts)


class AdaTT(nn.Module):
    """The AdaTT body: fusion levels of single-MLP experts (widths `level_dims`), one output per task.

    `task_experts` per task and `shared_experts` (0 for AdaTT-sp) per level; `native_fusion`
    toggles NativeExpertLF (False = the Table 6 ablation).
    """

    def __init__(self, input_dim: int, level_dims: list[list[int]], num_tasks: int, task_experts: int,
                 shared_experts: int = 0, native_fusion: bool = True) -> None:
        super().__init__()
        if task_experts < 1:
            raise ValueError("AdaTT needs at least one native expert per task")
        self.units = num_tasks + (1 if shared_experts else 0)
        self.levels = nn.ModuleList()
        fan_in = input_dim
        for level, dims in enumerate(level_dims):
            self.levels.append(FusionLevel(fan_in, dims, num_tasks, task_experts, shared_experts,
                                           native_fusion, top=level == len(level_dims) - 1))
            fan_in = dims[-1]
        self.out_features = fan_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, d_in]`` -> ``[batch, tasks, d_out]`` (Eq. 2-3)."""
        h = x.unsqueeze(1).expand(-1, self.units, -1)  # f_t^0 = x, Eq. 2
        for level in self.levels:
            h = level(h)
        return h
