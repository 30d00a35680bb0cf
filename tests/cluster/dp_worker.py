"""torchrun worker: synchronous data parallelism with DDP over gloo on the tiny DLRM; rank 0 writes the result.

argv: output file (torch.save of the final state dict, the per-step counted all-reduce bytes and losses).
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.nn.parallel import DistributedDataParallel

from cluster_helpers import batches, tiny_dlrm
from harness.cluster.comm import ByteCounter, count_collectives
from harness.cluster.virtual import bce_loss
from harness.train.distributed import init_from_env, shard_rows

if __name__ == "__main__":
    torch.set_num_threads(1)
    world = init_from_env()
    model = DistributedDataParallel(tiny_dlrm())
    model.register_comm_hook(None, allreduce_hook)  # Python all-reduce: visible to the byte counter
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    counted, losses = [], []
    for batch in batches():
        counter = ByteCounter()
        with count_collectives(counter):
            optimizer.zero_grad(set_to_none=True)
            loss = bce_loss(model, shard_rows(batch, world.rank, world.size))
            loss.backward()
        optimizer.step()
        counted.append(counter.payload_by_collective())
        losses.append(float(loss))
    if world.is_main:
        torch.save({"state": model.module.state_dict(), "counted": counted, "losses": losses}, sys.argv[1])
    dist.destroy_process_group()
