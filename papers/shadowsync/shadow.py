"""ShadowSync's synchronisation rules and schedules (arXiv 2003.03477 v3, Sec. 3), on virtual or real workers.

A *rule* says what one synchronisation does to a trainer's dense parameters ``x_i`` given the
mean ``m`` of the trainers' parameters (one all-reduce):

* ``ma`` (model averaging, S-MA / MA): ``x_i <- m``.
* ``easgd`` (elastic averaging, S-EASGD / FR-EASGD; Zhang et al. 2015): with a center ``c``
  replicated on every trainer, ``x_i <- x_i - alpha (x_i - c)`` and ``c <- c + alpha sum_i (x_i - c)``
  (the synchronous form, ``sum_i (x_i - c) = N (m - c)``: the paper keeps ``c`` on a dense
  parameter server, here it is all-reduced, a deviation).

A *schedule* says when: ``sync`` (gradients all-reduced every step: synchronous SGD),
``foreground`` (the rule every k iterations inside the training loop, which waits for it), or
``shadow`` (a background thread loops read -> all-reduce -> write back while the trainer keeps
training; the result is applied as the difference ``rule(snapshot) - snapshot``, so the trainer's
progress during the sync is kept).

:func:`train_virtual` runs N replicas in one process (:class:`~harness.cluster.virtual.VirtualWorkers`);
there the shadow thread is emulated deterministically: a sync reads the replicas at iteration t and
is written back at t + gap, when the next one starts (gap = the simulated iterations per sync).
:func:`train_gloo` runs one replica per torchrun process with a real shadow thread and its own
gloo process group; its gap is what the thread achieves.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.utils import parameters_to_vector

from harness.cluster.virtual import VirtualWorkers, bce_loss
from harness.errors import ConfigError
from harness.train.distributed import shard_rows

RULES = ("ma", "easgd")
SCHEDULES = ("sync", "foreground", "shadow")


@dataclass(frozen=True)
class Method:
    """How the trainers synchronise: `schedule`, `rule` (not for ``sync``), `every` (foreground k)."""

    schedule: str
    rule: str = "ma"
    every: int = 1
    alpha: float = 0.1

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES or self.rule not in RULES or self.every < 1:
            raise ConfigError(f"method: schedule in {SCHEDULES}, rule in {RULES}, every >= 1; got "
                              f"{self.schedule!r}, {self.rule!r}, {self.every}")


def parse_method(name: str, every: int, gap: int, alpha: float) -> Method:
    """``sync``, ``fg_<rule>`` (every `every`), ``fg_<rule>_gap`` (every `gap`) or ``shadow_<rule>``.

    A shadow method's `every` is its gap: the emulated thread's iterations per sync (virtual workers).
    """
    parts = name.split("_")
    if name == "sync":
        return Method("sync")
    if len(parts) in (2, 3) and parts[0] in ("fg", "shadow") and parts[1] in RULES \
            and (len(parts) == 2 or (parts[0], parts[2]) == ("fg", "gap")):
        schedule = "foreground" if parts[0] == "fg" else "shadow"
        return Method(schedule, parts[1], every if len(parts) == 2 and schedule == "foreground" else gap, alpha)
    raise ConfigError(f"methods: unknown method {name!r}; use sync, fg_<rule>, fg_<rule>_gap or shadow_<rule> "
                      f"with rule in {', '.join(RULES)}")


@dataclass
class RuleState:
    """The replicated state of a rule over `world` trainers: EASGD's center (None for model averaging).

    :meth:`targets` takes the snapshots this process holds (all of them for virtual workers, its
    own on a torchrun rank) and the mean over all `world` trainers.
    """

    method: Method
    world: int
    center: torch.Tensor | None = None

    def targets(self, snapshots: list[torch.Tensor], mean: torch.Tensor) -> list[torch.Tensor]:
        """Each held trainer's new parameters; updates the center once (EASGD)."""
        if self.method.rule == "ma":
            return [mean for _ in snapshots]
        if self.center is None:
            raise ConfigError("EASGD needs its center: initialise RuleState.center with the initial parameters")
        alpha, center = self.method.alpha, self.center
        self.center = center + alpha * self.world * (mean - center)
        return [s - alpha * (s - center) for s in snapshots]


@dataclass
class TrainStats:
    """What one trainer's loop did: steps, syncs, examples/s of the loop and the time it waited for syncs
    (`stall_s` None where it cannot be measured: virtual workers run their syncs in the same loop)."""

    steps: int = 0
    syncs: int = 0
    wall_s: float = 0.0
    stall_s: float | None = None
    examples: int = 0

    def metrics(self) -> dict[str, float]:
        """The loop's measurements, named as the claims use them."""
        out = {"steps": float(self.steps), "syncs": float(self.syncs),
               "iterations_per_sync": self.steps / self.syncs if self.syncs else float("nan"),
               "loop_examples_per_s": self.examples / self.wall_s if self.wall_s else float("nan")}
        if self.stall_s is not None:
            out["loop_stall_fraction"] = self.stall_s / self.wall_s if self.wall_s else float("nan")
        return out


def _flat(model: nn.Module) -> torch.Tensor:
    return parameters_to_vector(model.parameters()).detach().clone()


def _add_flat(model: nn.Module, delta: torch.Tensor) -> None:
    """Add a flat vector to the parameters through ``.data`` (no autograd version bump: Hogwild-style)."""
    offset = 0
    for p in model.parameters():
        n = p.numel()
        p.data.add_(delta[offset:offset + n].view_as(p))
        offset += n


def _limited(batches: Iterable[Any], steps: int) -> Iterable[Any]:
    for i, batch in enumerate(batches):
        if steps and i >= steps:
            return
        yield batch


def train_virtual(model: nn.Module, batches: Iterable[Any], method: Method, workers: int, lr: float,
                  max_steps: int) -> tuple[nn.Module, TrainStats]:
    """Train `workers` virtual replicas of `model` one pass over `batches` under `method`.

    Returns the average of the replicas (the model evaluated) and the loop's statistics (its wall
    time is this process's; stalls are not measurable here: the simulator gives them).
    """
    vw = VirtualWorkers(model, workers, lambda replica: torch.optim.Adagrad(replica.parameters(), lr=lr))
    state = RuleState(method, workers, _flat(model) if method.rule == "easgd" else None)
    stats, pending = TrainStats(), None
    every = method.every
    started = time.perf_counter()
    for step, batch in enumerate(_limited(batches, max_steps), 1):
        stats.examples += int(batch.labels.shape[0])
        if method.schedule == "sync":
            vw.step(batch)
            stats.syncs += 1
        else:
            for opt in vw.optimizers:
                opt.zero_grad(set_to_none=True)
            vw.local_backward(batch)
            for opt in vw.optimizers:
                opt.step()
            if step % every == 0:
                if method.schedule == "foreground":
                    _sync_virtual(vw, state, [_flat(r) for r in vw.replicas])
                    stats.syncs += 1
                else:
                    if pending is not None:
                        _sync_virtual(vw, state, pending)
                        stats.syncs += 1
                    pending = [_flat(r) for r in vw.replicas]
        stats.steps = step
    stats.wall_s = time.perf_counter() - started
    vw.average_parameters()
    return vw.replicas[0], stats


def _sync_virtual(vw: VirtualWorkers, state: RuleState, snapshots: list[torch.Tensor]) -> None:
    """One sync of the rule from `snapshots`, applied to each replica as ``target - snapshot``."""
    mean = vw.all_reduce_mean(snapshots)
    for replica, snap, target in zip(vw.replicas, snapshots, state.targets(snapshots, mean)):
        _add_flat(replica, target - snap)


class ShadowThread:
    """ShadowSync's background thread on one torchrun process: read, all-reduce, write back, repeat.

    It has its own gloo process group, so its collectives never interleave with the trainer's. Each
    round all-reduces the flat parameters with one extra element, the "stop" flag: a trainer that
    has finished sets it, and every rank leaves after the same round (no rank waits for a partner
    that stopped).
    """

    def __init__(self, model: nn.Module, state: RuleState, group: Any, world: int) -> None:
        self.model, self.state, self.group, self.world = model, state, group, world
        self.done = threading.Event()
        self.syncs = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="shadow-sync", daemon=True)

    def start(self) -> None:
        """Start syncing in the background."""
        self.thread.start()

    def stop(self) -> None:
        """Ask every rank's thread to stop after the current round and wait for this one."""
        self.done.set()
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        try:
            with torch.no_grad():
                while True:
                    snapshot = _flat(self.model)
                    buffer = torch.cat([snapshot, torch.tensor([1.0 if self.done.is_set() else 0.0])])
                    dist.all_reduce(buffer, group=self.group)
                    if buffer[-1] > 0:
                        return
                    target = self.state.targets([snapshot], buffer[:-1] / self.world)[0]
                    _add_flat(self.model, target - snapshot)
                    self.syncs += 1
        except BaseException as exc:  # re-raised in the trainer's thread by stop()
            self.error = exc


def _all_reduce_mean_(tensor: torch.Tensor, world: int) -> None:
    dist.all_reduce(tensor)
    tensor /= world


def train_gloo(model: nn.Module, batches: Iterable[Any], method: Method, lr: float,
               max_steps: int) -> tuple[nn.Module, TrainStats]:
    """Train this torchrun rank's replica one pass over its slice of each global batch under `method`.

    Every rank must call it with the same batches. Returns the replica after a final all-reduce
    average (identical on every rank) and this rank's loop statistics, with the time its loop
    waited in synchronisation (`stall_s`).
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    optimizer = torch.optim.Adagrad(model.parameters(), lr=lr)
    state = RuleState(method, world, _flat(model) if method.rule == "easgd" else None)
    group = dist.new_group(backend="gloo")  # collective: every rank creates it, whatever the method
    stats, stall = TrainStats(), 0.0
    shadow = ShadowThread(model, state, group, world) if method.schedule == "shadow" else None
    params = list(model.parameters())
    started = time.perf_counter()
    if shadow:
        shadow.start()
    for step, batch in enumerate(_limited(batches, max_steps), 1):
        local = shard_rows(batch, rank, world)
        stats.examples += int(local.labels.shape[0])
        optimizer.zero_grad(set_to_none=True)
        bce_loss(model, local).backward()
        if method.schedule == "sync":
            began = time.perf_counter()
            grads = parameters_to_vector([p.grad for p in params])  # type: ignore[misc]
            _all_reduce_mean_(grads, world)
            offset = 0
            for p in params:
                assert p.grad is not None
                p.grad.copy_(grads[offset:offset + p.numel()].view_as(p))
                offset += p.numel()
            stall += time.perf_counter() - began
            stats.syncs += 1
        optimizer.step()
        if method.schedule == "foreground" and step % method.every == 0:
            began = time.perf_counter()
            with torch.no_grad():
                snapshot = _flat(model)
                mean = snapshot.clone()
                _all_reduce_mean_(mean, world)
                _add_flat(model, state.targets([snapshot], mean)[0] - snapshot)
            stall += time.perf_counter() - began
            stats.syncs += 1
        stats.steps = step
    if shadow:
        began = time.perf_counter()
        shadow.stop()
        stall += time.perf_counter() - began
        stats.syncs = shadow.syncs
    stats.wall_s, stats.stall_s = time.perf_counter() - started, stall
    with torch.no_grad():
        final = _flat(model)
        _all_reduce_mean_(final, world)
        _add_flat(model, final - _flat(model))
    dist.destroy_process_group(group)
    return model, stats
