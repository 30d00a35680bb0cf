"""Multi-task building blocks and the baselines of the MMoE / PLE / AdaTT line of work.

Every *body* maps dense features ``[batch, d_in]`` to one representation per task
``[batch, tasks, d_out]``; :class:`MultiTaskModel` puts one tower per task on top and returns
logits ``[batch, tasks]`` for the trainer. Experts, gates and towers are the pieces AdaTT's
Figure 2 compares: experts are :class:`~harness.models.mlp.MLP` blocks, gates a single
linear layer with a softmax (AdaTT Sec. 4.2.3), towers a small MLP per task.

Bodies: :class:`SharedBottom` (Caruana 1997), :class:`MultiLevelMMoE` (MMoE, Ma et al. KDD'18, and
its multi-level extension ML-MMoE, AdaTT Sec. 4.1), :class:`PLE` (Tang et al. RecSys'20, stacked
CGC levels), :class:`CrossStitch` (Misra et al. CVPR'16). The structure follows the reference
implementations in facebookresearch/AdaTT (mtl_lib.py); the code is ours.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from harness.models.mlp import MLP


class Gate(nn.Module):
    """A gating network: softmax over `num_experts` of one linear map of its input (AdaTT Eq. 10)."""

    def __init__(self, input_dim: int, num_experts: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_dim, num_experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[batch, input_dim]`` to mixture weights ``[batch, num_experts]`` summing to one."""
        return torch.softmax(self.linear(x), dim=-1)


class ExpertGroup(nn.Module):
    """`num_experts` MLP experts of widths `dims` (ReLU after every layer, as in the reference experts).

    The input is either shared by all experts (``[batch, d_in]``) or one per expert
    (``[batch, num_experts, d_in]``), as in ML-MMoE's upper levels.
    """

    def __init__(self, input_dim: int, dims: list[int], num_experts: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(MLP([input_dim, *dims]) for _ in range(num_experts))
        self.out_features = dims[-1]

    def __len__(self) -> int:
        return len(self.experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expert outputs stacked as ``[batch, num_experts, dims[-1]]``."""
        if x.dim() == 3:
            return torch.stack([expert(x[:, i]) for i, expert in enumerate(self.experts)], dim=1)
        return torch.stack([expert(x) for expert in self.experts], dim=1)


def mix(weights: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Combine expert outputs ``[batch, experts, d]`` with weights ``[batch, outputs, experts]``."""
    return torch.bmm(weights, experts)


class TaskTowers(nn.Module):
    """One MLP tower per task ending in a single logit (AdaTT Eq. 1, h_t)."""

    def __init__(self, input_dim: int, hidden: list[int], num_tasks: int) -> None:
        super().__init__()
        self.towers = nn.ModuleList(MLP([input_dim, *hidden, 1], activate_last=False) for _ in range(num_tasks))

    def forward(self, reps: torch.Tensor) -> torch.Tensor:
        """Map per-task representations ``[batch, tasks, d]`` to logits ``[batch, tasks]``."""
        return torch.cat([tower(reps[:, t]) for t, tower in enumerate(self.towers)], dim=1)


class FeatureBatch(Protocol):
    """What :class:`MultiTaskModel` reads from a batch (the trainer's ``TensorBatch`` qualifies)."""

    features: torch.Tensor


class MultiTaskModel(nn.Module):
    """A body producing per-task representations, with a tower per task: the trainer's model.

    `body` is any module mapping ``[batch, d_in]`` to ``[batch, tasks, body.out_features]``.
    """

    def __init__(self, body: nn.Module, num_tasks: int, tower_hidden: list[int]) -> None:
        super().__init__()
        self.body = body
        self.towers = TaskTowers(int(getattr(body, "out_features")), tower_hidden, num_tasks)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        """Logits ``[batch, tasks]`` for a batch carrying dense ``features``."""
        return self.towers(self.body(batch.features))


class SharedBottom(nn.Module):
    """One MLP shared by all tasks, its output copied to every task's tower (hard parameter sharing)."""

    def __init__(self, input_dim: int, dims: list[int], num_tasks: int) -> None:
        super().__init__()
        self.bottom = MLP([input_dim, *dims])
        self.num_tasks = num_tasks
        self.out_features = dims[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, d_in]`` -> ``[batch, tasks, dims[-1]]``."""
        return self.bottom(x).unsqueeze(1).expand(-1, self.num_tasks, -1)


class MultiLevelMMoE(nn.Module):
    """MMoE (Ma et al., KDD'18, Eq. 5-6) and its multi-level extension ML-MMoE (AdaTT Sec. 4.1).

    Each level has `num_experts` shared experts; below the top, gate j mixes the level's experts
    into the input of expert j of the next level, and at the top one gate per task mixes them into
    that task's representation. Every gate is conditioned on the raw input `x`, as in MMoE. One
    level with multi-layer experts (e.g. ``[[128, 64]]``) is the original MMoE.
    """

    def __init__(self, input_dim: int, level_dims: list[list[int]], num_experts: int, num_tasks: int) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.experts = nn.ModuleList()
        self.gates = nn.ModuleList()
        fan_in = input_dim
        for level, dims in enumerate(level_dims):
            outputs = num_tasks if level == len(level_dims) - 1 else num_experts
            self.experts.append(ExpertGroup(fan_in, dims, num_experts))
            self.gates.append(nn.ModuleList(Gate(input_dim, num_experts) for _ in range(outputs)))
            fan_in = dims[-1]
        self.out_features = fan_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, d_in]`` -> ``[batch, tasks, d_out]``."""
        h = x
        for experts, gates in zip(self.experts, self.gates):
            weights = torch.stack([gate(x) for gate in gates.children()], dim=1)
            h = mix(weights, experts(h))
        return h


class CGCLevel(nn.Module):
    """One Customized Gate Control level of PLE (Tang et al., RecSys'20, Sec. 4.2-4.3, Eq. 1-4).

    Task unit t has `task_experts` experts on its own input and a gate (on that input) over its
    experts and the shared ones; the shared unit has `shared_experts` experts on the shared input
    and, except at the top level, a gate over all experts of the level.
    """

    def __init__(self, input_dim: int, dims: list[int], num_tasks: int, task_experts: int,
                 shared_experts: int, top: bool) -> None:
        super().__init__()
        self.num_tasks, self.task_experts = num_tasks, task_experts
        self.task_groups = nn.ModuleList(ExpertGroup(input_dim, dims, task_experts) for _ in range(num_tasks))
        self.shared_group = ExpertGroup(input_dim, dims, shared_experts)
        self.task_gates = nn.ModuleList(Gate(input_dim, task_experts + shared_experts) for _ in range(num_tasks))
        total = num_tasks * task_experts + shared_experts
        self.shared_gate = None if top else Gate(input_dim, total)
        self.out_features = dims[-1]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[batch, tasks + 1, d_in]`` (task inputs, then the shared input) -> ``[batch, tasks (+ 1), d_out]``."""
        shared = self.shared_group(inputs[:, -1])
        task_outs = [group(inputs[:, t]) for t, group in enumerate(self.task_groups)]
        fused = [mix(gate(inputs[:, t]).unsqueeze(1), torch.cat([task_outs[t], shared], dim=1))
                 for t, gate in enumerate(self.task_gates)]
        if self.shared_gate is not None:
            everything = torch.cat([*task_outs, shared], dim=1)
            fused.append(mix(self.shared_gate(inputs[:, -1]).unsqueeze(1), everything))
        return torch.cat(fused, dim=1)


class PLE(nn.Module):
    """Progressive Layered Extraction (Tang et al., RecSys'20): CGC levels stacked (Sec. 4.3).

    One level is CGC. Each level's experts are single MLPs of the widths in `level_dims`.
    """

    def __init__(self, input_dim: int, level_dims: list[list[int]], num_tasks: int, task_experts: int,
                 shared_experts: int) -> None:
        super().__init__()
        if shared_experts < 1:
            raise ValueError("PLE needs at least one shared expert per level (without, it is separate towers)")
        self.num_tasks = num_tasks
        self.levels = nn.ModuleList()
        fan_in = input_dim
        for level, dims in enumerate(level_dims):
            self.levels.append(CGCLevel(fan_in, dims, num_tasks, task_experts, shared_experts,
                                        top=level == len(level_dims) - 1))
            fan_in = dims[-1]
        self.out_features = fan_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, d_in]`` -> ``[batch, tasks, d_out]``."""
        h = x.unsqueeze(1).expand(-1, self.num_tasks + 1, -1)
        for level in self.levels:
            h = level(h)
        return h


class CrossStitch(nn.Module):
    """Cross-stitch networks (Misra et al., CVPR'16): one column per task, mixed linearly after each level.

    The stitch units start close to the identity (0.9 on a task's own column, the remaining 0.1
    spread over the others), the initialisation Misra et al. recommend.
    """

    def __init__(self, input_dim: int, level_dims: list[list[int]], num_tasks: int) -> None:
        super().__init__()
        self.num_tasks = num_tasks
        self.columns = nn.ModuleList()
        self.stitches = nn.ParameterList()
        off_diagonal = 0.1 / max(num_tasks - 1, 1)
        init = torch.full((num_tasks, num_tasks), off_diagonal).fill_diagonal_(0.9 if num_tasks > 1 else 1.0)
        fan_in = input_dim
        for dims in level_dims:
            self.columns.append(ExpertGroup(fan_in, dims, num_tasks))
            self.stitches.append(nn.Parameter(init.clone()))
            fan_in = dims[-1]
        self.out_features = fan_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, d_in]`` -> ``[batch, tasks, d_out]``."""
        h = x.unsqueeze(1).expand(-1, self.num_tasks, -1)
        for columns, stitch in zip(self.columns, self.stitches):
            h = torch.einsum("ts,bsd->btd", stitch, columns(h))
        return h
