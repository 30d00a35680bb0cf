"""Train the smoke-scale DLRM with checkpoints in argv[1]; the kill -9 resume test runs this."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from train_helpers import RESUME_CONFIG, small_dlrm, small_splits
from harness.train.trainer import fit, seed_everything

if __name__ == "__main__":
    torch.set_num_threads(1)
    seed_everything(0)
    train, splits = small_splits()
    fit(small_dlrm(), train, splits, [""], RESUME_CONFIG, "cpu", checkpoint_dir=Path(sys.argv[1]))
