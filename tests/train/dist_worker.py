"""Train the smoke DLRM under DistributedModelParallel (torchrun or one process); write losses to argv[1]."""

from __future__ import annotations

import json
import sys

import torch

from repro.harness.train.distributed import RankShard, init_from_env, init_single_process, plan_as_dict, shard_model
from repro.harness.train.trainer import TrainConfig, fit, seed_everything
from train_helpers import small_dlrm, small_splits

CONFIG = TrainConfig(epochs=1, lr=0.1, optimizer="sgd", sparse_optimizer="sgd", eval_every_steps=15)

if __name__ == "__main__":
    torch.set_num_threads(1)
    world = init_from_env()
    if world.size == 1:
        world = init_single_process(world.device, port=int(sys.argv[2]))
    seed_everything(0)
    train, splits = small_splits(batch_size=32)
    model, plan = shard_model(small_dlrm(), CONFIG.sparse_spec(), world, batch_size=32 // world.size)
    shards = {name: RankShard(source, world) for name, source in splits.items()}
    result = fit(model, RankShard(train, world), shards, [""], CONFIG, world.device)
    if world.is_main:
        with open(sys.argv[1], "w", encoding="utf-8") as handle:
            json.dump({"losses": result.step_losses, "metrics": result.metrics, "plan": plan_as_dict(plan)}, handle)
