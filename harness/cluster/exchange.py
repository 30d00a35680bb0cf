"""Embedding exchange on torch.distributed: owners of tables, differentiable collectives, host groups.

The parts the distributed-embedding papers (DES, DMT) share when they run for real under torchrun
(gloo on CPU):

* :func:`blocks` assigns features to ranks in contiguous blocks (table-wise model parallelism, as
  TorchRec's table-wise sharding places whole tables);
* :class:`ReplicatedSum` is an all-reduce whose backward is the identity: when every rank computes
  the *same* loss from the reduced tensor (DES's replicated head), the gradient of that loss with
  respect to a rank's partial is the gradient with respect to the sum, already on every rank;
* :func:`exchange` is an ``all_to_all_single`` with autograd (backward: the reverse exchange),
  called as ``dist.all_to_all_single`` with its group by keyword, so :func:`~.comm.count_collectives`
  counts both directions;
* :func:`host_groups` builds the intra-host groups and the cross-host peer groups of a
  ``hosts x local_ranks`` world (host-major rank numbering, as torchrun numbers them);
* :func:`launch_module` runs a module's worker entry point on N local processes through torchrun,
  and :func:`one_process_group` gives a one-rank gloo group without a port (smoke runs, tests).

Bytes by hand for the table-wise exchange (:func:`table_wise_exchange_bytes`) are the reference the
byte-counter tests and the papers' byte claims use.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.distributed as dist

from harness.atomic import write_json
from harness.errors import ConfigError
from harness.experiment import ExperimentContext

FLOAT_BYTES = 4
ID_BYTES = 8  # int64 ids, as the loaders produce them


def blocks(items: int, parts: int) -> list[range]:
    """`items` split into `parts` contiguous blocks whose sizes differ by at most one (earlier blocks larger)."""
    if parts < 1 or items < parts:
        raise ConfigError(f"cannot split {items} features over {parts} ranks; give at least one feature per rank")
    base, extra = divmod(items, parts)
    bounds = [0]
    for p in range(parts):
        bounds.append(bounds[-1] + base + (1 if p < extra else 0))
    return [range(bounds[p], bounds[p + 1]) for p in range(parts)]


class ReplicatedSum(torch.autograd.Function):
    """Sum of a tensor over the ranks of `group` (all-reduce); backward passes the gradient through unchanged.

    Exact only when every rank computes the same loss from the sum (the gradient of the sum with
    respect to each partial is the identity, and every rank already holds it): DES's backward needs
    no communication (Rong et al., arXiv 1909.04823, Sec. 3: the gradient of the substituted operator
    is available on every worker after the forward all-reduce).
    """

    @staticmethod
    def forward(ctx: Any, partial: torch.Tensor, group: Any = None) -> torch.Tensor:  # noqa: D102
        total = partial.detach().clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, group=group)
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        return grad, None


def replicated_sum(partial: torch.Tensor, group: Any = None) -> torch.Tensor:
    """:class:`ReplicatedSum` of `partial` over `group` (the world by default)."""
    out = ReplicatedSum.apply(partial, group)
    assert isinstance(out, torch.Tensor)
    return out


class _Exchange(torch.autograd.Function):
    """``all_to_all_single`` along dim 0 with the reverse exchange as backward."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, send: list[int], receive: list[int], group: Any) -> torch.Tensor:  # noqa: D102
        ctx.send, ctx.receive, ctx.group = send, receive, group
        out = tensor.new_empty((sum(receive), *tensor.shape[1:]))
        dist.all_to_all_single(out, tensor.contiguous(), output_split_sizes=receive, input_split_sizes=send,
                               group=group)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:  # noqa: D102
        back = grad.new_empty((sum(ctx.send), *grad.shape[1:]))
        dist.all_to_all_single(back, grad.contiguous(), output_split_sizes=ctx.send, input_split_sizes=ctx.receive,
                               group=ctx.group)
        return back, None, None, None


def exchange(tensor: torch.Tensor, send: Sequence[int], receive: Sequence[int], group: Any = None) -> torch.Tensor:
    """All-to-all of `tensor`'s rows: ``send[r]`` rows to rank r of `group`, ``receive[r]`` rows from it.

    Differentiable (the backward sends the gradient rows back the same way); ids (integer tensors)
    go through the same call without a gradient.
    """
    out = _Exchange.apply(tensor, list(send), list(receive), group)
    assert isinstance(out, torch.Tensor)
    return out


@dataclass(frozen=True)
class HostGroups:
    """This rank's place in ``hosts x local_ranks`` and its two groups.

    `intra` holds the ranks of this rank's host; `peers` the ranks with this rank's local index on
    every host (one per host), the cross-host channel of DMT's tower transform.
    """

    hosts: int
    local_ranks: int
    host: int
    local: int
    intra: Any
    peers: Any


def host_groups(hosts: int, local_ranks: int) -> HostGroups:
    """Create (on every rank, in the same order) the intra-host and cross-host peer groups; this rank's pair."""
    world, rank = dist.get_world_size(), dist.get_rank()
    if hosts * local_ranks != world:
        raise ConfigError(f"{hosts} hosts x {local_ranks} local ranks = {hosts * local_ranks} ranks, "
                          f"but the process group has {world}; launch hosts x local_ranks processes")
    intra = peers = None
    for h in range(hosts):
        group = dist.new_group([h * local_ranks + l for l in range(local_ranks)])
        if rank // local_ranks == h:
            intra = group
    for l in range(local_ranks):
        group = dist.new_group([h * local_ranks + l for h in range(hosts)])
        if rank % local_ranks == l:
            peers = group
    return HostGroups(hosts, local_ranks, rank // local_ranks, rank % local_ranks, intra, peers)


@contextlib.contextmanager
def one_process_group() -> Iterator[None]:
    """A one-rank gloo world on an in-memory store (no port), destroyed on exit; reuses one if present."""
    if dist.is_initialized():
        yield
        return
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def launch_module(module: str, nproc: int, argv: Sequence[str], timeout_s: float = 1800) -> None:
    """Run ``python -m <module> <argv>`` on `nproc` local processes through torchrun (one thread each).

    torchrun's ``--standalone`` rendezvous picks a free port, so concurrent launches do not collide.
    A worker failure raises :class:`ConfigError` with torchrun's exit status (the workers' output is
    on the terminal).
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               "-m", module, *argv]
    done = subprocess.run(command, env=env, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise ConfigError(f"the {nproc}-process torchrun of {module} failed (exit {done.returncode}); "
                          f"its workers' output is above")


def table_wise_exchange_bytes(batch: int, features: int, width: int, world: int,
                              with_ids: bool = True) -> dict[str, float]:
    """Payload bytes, summed over the ranks, of one training step of table-wise model parallelism.

    Each rank holds a block of the `features` tables and ``batch / world`` samples. Forward: the ids
    of its samples go to each table's owner (``features x batch`` int64 over all ranks, when
    `with_ids`), the owners pool for the whole batch and send every sample's pooled vectors to the
    sample's rank (``batch x features x width`` floats over all ranks); backward: the same volume of
    pooled gradients goes back. Returns the summed send buffers of each all-to-all (``ids``,
    ``pooled``, ``pooled_grad``); a rank keeps its own samples' share, so ``(world-1)/world`` of each
    goes on the wire (:func:`~harness.cluster.topology.ring_wire_bytes`), however the tables are split.
    """
    if batch % world:
        raise ConfigError(f"the global batch {batch} must be a multiple of the world size {world}")
    pooled = batch * features * width * FLOAT_BYTES
    out = {"pooled": float(pooled), "pooled_grad": float(pooled)}
    if with_ids:
        out["ids"] = float(features * batch * ID_BYTES)
    return out


def world_result(entry: Callable[[dict[str, Any]], dict[str, Any]], module: str, procs: int,
                 payload: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """Run ``entry(payload)`` on every rank of a gloo world and return rank 0's JSON-ready result.

    Under torchrun (``repro run <id> --nproc N``) the current world runs it in-process, whatever
    `procs` says; with ``procs == 1`` a one-rank group runs it here (smoke runs: the pipeline, no
    wire); otherwise `module` (whose ``__main__`` calls :func:`worker_main` with `entry`) is launched
    on `procs` processes through torchrun, the payload and the result travelling as JSON files in
    `scratch`.
    """
    from harness.train.distributed import init_from_env

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        init_from_env()
    if dist.is_initialized() and dist.get_world_size() > 1:
        result = entry(payload)
        box: list[Any] = [result if dist.get_rank() == 0 else None]
        dist.broadcast_object_list(box, src=0)
        return dict(box[0])
    if procs == 1:
        with one_process_group():
            return entry(payload)
    scratch.mkdir(parents=True, exist_ok=True)
    request, answer = scratch / "payload.json", scratch / "result.json"
    write_json(request, payload)
    answer.unlink(missing_ok=True)
    launch_module(module, procs, ["--payload", str(request), "--out", str(answer)])
    return dict(json.loads(answer.read_text(encoding="utf-8")))


def seeds_on_world(ctx: ExperimentContext, entry: Callable[[dict[str, Any]], dict[str, Any]], module: str,
                   procs: int, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Run `entry` once for all of the run's seeds on a gloo world (:func:`world_result`).

    The payload carries the profile `params` (a TOML-like table), the data and work folders and the
    seeds; returns rank 0's result and the wall seconds the world took.
    """
    payload = {"params": params, "data_dir": str(ctx.data_dir), "work_dir": str(ctx.work_dir),
               "seeds": list(ctx.seeds)}
    started = time.perf_counter()
    result = world_result(entry, module, procs, payload, ctx.work_dir / "world")
    return result, time.perf_counter() - started


def worker_main(entry: Callable[[dict[str, Any]], dict[str, Any]], argv: Sequence[str] | None = None) -> None:
    """A torchrun worker of :func:`world_result`: join the group, run `entry`, rank 0 writes the result."""
    from harness.train.distributed import init_from_env

    parser = argparse.ArgumentParser(description="distributed worker (launched by harness.cluster.exchange)")
    parser.add_argument("--payload", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    world = init_from_env()
    result = entry(json.loads(args.payload.read_text(encoding="utf-8")))
    if world.is_main:
        write_json(args.out, result)
    dist.barrier()
    dist.destroy_process_group()
