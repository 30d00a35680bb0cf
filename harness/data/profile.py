"""The splits a paper's run profile asks for: the real files, or a synthetic file in the native format.

Every paper's ``paper.toml`` profile names its data the same way, so the choice between real and
synthetic data is made once, here: ``synthetic_rows`` > 0 (smoke profiles) writes a seeded
synthetic file of that many rows in the dataset's native format and reads it through the same
loader as the real one; otherwise the real files under the data directory are read. Profile keys:

* ``dataset``: a dataset id of :mod:`.registry` (default: the paper's own, given by the caller);
* ``synthetic_rows``, ``synthetic_vocab``: the synthetic file's size and its largest vocabulary;
* ``batch_size``, ``eval_batch_size``: training and evaluation batch sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from harness.data.api import Splits, load_splits
from harness.data.synthetic import write_criteo_tsv, write_frappe_libfm, write_movielens
from harness.errors import ConfigError

CRITEO_KAGGLE_DLRM = "criteo-kaggle-dlrm"


def profile_splits(data_dir: Path, work_dir: Path, params: Mapping[str, Any], seed: int,
                   default_dataset: str = CRITEO_KAGGLE_DLRM) -> Splits:
    """The train/val/test loaders of ``params["dataset"]`` (else `default_dataset`) for one seed.

    Synthetic files (Criteo TSV, a MovieLens release, or Frappe libfm files: `synthetic_rows`
validation rows and half as many test rows, plus four times as many train rows for
``frappe-bars``) go under ``work_dir/synthetic`` and the
    preprocessed cache under ``work_dir/cache``; `seed` orders the training batches.
    """
    dataset = str(params.get("dataset", default_dataset))
    rows = int(params.get("synthetic_rows", 0))
    raw = None
    if rows > 0 and dataset.startswith("criteo"):
        raw = write_criteo_tsv(work_dir / "synthetic" / "train.txt", rows=rows, seed=0,
                               max_vocab=int(params.get("synthetic_vocab", 2_000)))
    elif rows > 0 and dataset.startswith("movielens-"):
        release = dataset.split("-")[1]
        data_dir = work_dir / "synthetic"
        write_movielens(data_dir / f"movielens_{release}", release, rows=rows, seed=0)
    elif rows > 0 and dataset.startswith("frappe"):
        data_dir = work_dir / "synthetic"
        parts = {"validation": rows, "test": max(rows // 2, 1)}
        if dataset == "frappe-bars":
            parts["train"] = 4 * rows
        write_frappe_libfm(data_dir / "frappe_nfm", parts, seed=0)
    elif rows > 0:
        raise ConfigError(f"synthetic_rows: no synthetic generator for dataset {dataset!r}; "
                          "set synthetic_rows = 0 to read the real files")
    return load_splits(dataset, data_dir=data_dir, cache_dir=work_dir / "cache", raw=raw,
                       batch_size=int(params["batch_size"]),
                       eval_batch_size=int(params.get("eval_batch_size", 4096)), seed=seed)
