"""torchrun worker: DCT-DP's gradient exchange over gloo on fixed per-rank gradients; rank 0 writes the result.

argv: output file (torch.save of the mean gradient of every step and the counted bytes).
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from dct_exchange_cases import KEEP, PERIOD, SIZE, STEPS, gradient
from harness.cluster.comm import ByteCounter, count_collectives
from harness.train.distributed import init_from_env
from papers.dct.dct import GradientExchange
from papers.dct.experiment import pushed_bytes

if __name__ == "__main__":
    torch.set_num_threads(1)
    world = init_from_env()
    results = {}
    for keep in (KEEP, None):
        counter = ByteCounter()
        exchange = GradientExchange(SIZE, world.size, counter, keep, PERIOD, error_feedback=True)
        with count_collectives(counter), counter.tagged("dp"):
            means = [exchange.distributed(gradient(step, world.rank)) for step in range(STEPS)]
        results[str(keep)] = {"means": means, "bytes": pushed_bytes(counter, "dp"),
                              "values": exchange.tally.values_sent}
    if world.is_main:
        torch.save(results, sys.argv[1])
    dist.destroy_process_group()
