"""Train the smoke DLRM under DistributedModelParallel (torchrun or one process); write losses to argv[1].

argv: output json, master port (one-process runs), optional checkpoint folder, optional
``interrupt`` (raise at the second evaluation, after the step-10 checkpoint, as a crash would).
The sparse optimiser comes from ``$SPARSE_OPTIMIZER`` (default sgd).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from harness.experiment import NullProgress
from harness.train.distributed import RankShard, init_from_env, init_single_process, plan_as_dict, shard_model
from harness.train.trainer import TrainConfig, fit, seed_everything
from train_helpers import small_dlrm, small_splits

CONFIG = TrainConfig(epochs=1, lr=0.1, optimizer="sgd", sparse_optimizer=os.environ.get("SPARSE_OPTIMIZER", "sgd"),
                     eval_every_steps=15, checkpoint_every_steps=10)


class Interrupt(NullProgress):
    """Raises at the second evaluation."""

    def __init__(self) -> None:
        self.calls = 0

    def update(self, epoch: int, examples_per_s: float, message: str = "") -> None:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError(f"interrupted at {message}")

if __name__ == "__main__":
    torch.set_num_threads(1)
    world = init_from_env()
    if world.size == 1:
        world = init_single_process(world.device, port=int(sys.argv[2]))
    seed_everything(0)
    train, splits = small_splits(batch_size=32)
    model, plan = shard_model(small_dlrm(), CONFIG.sparse_spec(), world, batch_size=32 // world.size)
    shards = {name: RankShard(source, world) for name, source in splits.items()}
    folder = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    progress = Interrupt() if sys.argv[4:] == ["interrupt"] else None
    result = fit(model, RankShard(train, world), shards, [""], CONFIG, world.device, progress, folder)
    if world.is_main:
        with open(sys.argv[1], "w", encoding="utf-8") as handle:
            json.dump({"losses": result.step_losses, "metrics": result.metrics, "plan": plan_as_dict(plan)}, handle)
