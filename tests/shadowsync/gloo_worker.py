"""One torchrun rank of the gloo-against-virtual check: train the tiny DLRM under a method, rank 0 saves it."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from cluster_helpers import batches, tiny_dlrm
from harness.train.distributed import init_from_env
from papers.shadowsync.shadow import parse_method, train_gloo


def main(name: str, out: str) -> None:
    torch.set_num_threads(1)
    world = init_from_env()
    model, stats = train_gloo(tiny_dlrm(), batches(), parse_method(name, 2, 2, 0.2), lr=0.1, max_steps=0)
    if world.is_main:
        torch.save({"state": model.state_dict(), "syncs": stats.syncs}, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
