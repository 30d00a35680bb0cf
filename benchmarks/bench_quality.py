"""Quality benchmarks: what a short, fixed training run reaches, tracked like a timing.

asv treats every number as lower-is-better (``asv compare`` and ``asv continuous`` flag an
*increase* beyond ``--factor`` as a regression), so quality is tracked as a loss: ``1 - AUC`` and
NE (normalized entropy, the metric of Meta's papers). A change that makes a model learn worse
then shows in the same table, and fails the nightly job the same way, as a slowdown. The data
(:func:`benchmarks.common.synthetic_shard`), the seeds and the schedule are fixed, so on one
machine these numbers are repeatable bit for bit and any change comes from the code.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from harness.models.multitask import MultiLevelMMoE, MultiTaskModel, SharedBottom
from harness.train.trainer import TrainConfig, fit, seed_everything

from .common import SEED, synthetic_shard

TASKS = ["task1", "task2"]
DIM = 32
TRAIN_ROWS, VAL_ROWS, TEST_ROWS = 10_000, 2_500, 5_000
SCHEDULE = TrainConfig(epochs=3, lr=3e-3)
BATCH_SIZE = 256

MODELS: dict[str, Callable[[], nn.Module]] = {
    # Hard parameter sharing (Caruana 1997), the baseline of MMoE's synthetic study (Sec. 3.3).
    "shared_bottom": lambda: MultiTaskModel(SharedBottom(DIM, [64, 32], len(TASKS)), len(TASKS), [16]),
    # MMoE (Ma et al., KDD 2018, Eq. 5-6): 4 experts, one softmax gate per task.
    "mmoe": lambda: MultiTaskModel(MultiLevelMMoE(DIM, [[32, 16]], num_experts=4, num_tasks=len(TASKS)),
                                   len(TASKS), [16]),
}


def train_and_evaluate(name: str) -> dict[str, float]:
    """Train model `name` on the fixed shard; the test metrics of its best-validation epoch."""
    shard = synthetic_shard(TRAIN_ROWS + VAL_ROWS + TEST_ROWS, dim=DIM, tasks=len(TASKS))
    train = shard.rows(0, TRAIN_ROWS)
    val = shard.rows(TRAIN_ROWS, TRAIN_ROWS + VAL_ROWS)
    test = shard.rows(TRAIN_ROWS + VAL_ROWS, len(shard.labels))
    seed_everything(SEED)
    model = MODELS[name]()
    result = fit(model, train.batches(BATCH_SIZE, shuffle=True),
                 {"val": val.batches(4096, shuffle=False), "test": test.batches(4096, shuffle=False)},
                 TASKS, SCHEDULE, device="cpu")
    return result.metrics


class QualityAfterShortTraining:
    """Test ``1 - AUC`` and NE per model and task after 3 epochs on 10k synthetic rows."""

    params = (list(MODELS), TASKS)
    param_names = ["model", "task"]
    timeout = 300

    def setup_cache(self) -> dict[str, dict[str, float]]:
        """Train every model once per benchmark run (all parameter combinations share it)."""
        return {name: train_and_evaluate(name) for name in MODELS}

    def track_test_auc_gap(self, cache: dict[str, dict[str, Any]], model: str, task: str) -> float:
        """``1 - AUC`` on the test rows (lower is better)."""
        return 1.0 - cache[model][f"test_auc_{task}"]

    track_test_auc_gap.unit = "1 - AUC"  # type: ignore[attr-defined]

    def track_test_ne(self, cache: dict[str, dict[str, Any]], model: str, task: str) -> float:
        """Normalized entropy on the test rows (lower is better; 1 = no better than the base rate)."""
        return cache[model][f"test_ne_{task}"]

    track_test_ne.unit = "NE"  # type: ignore[attr-defined]
