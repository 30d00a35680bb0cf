"""What a trainer calls: ``load_splits(dataset_id, …)`` -> train/val/test batch loaders and table sizes.

Example::

    from harness.data.api import load_splits

    splits = load_splits("criteo-kaggle-dlrm", batch_size=2048, seed=0)   # prepares the cache if needed
    ebc_tables = splits.table_sizes          # {"cat_0": 1460, …}: num_embeddings per sparse key
    for epoch in range(epochs):
        splits.train.set_epoch(epoch)
        for batch in splits.train:           # torchrec.datasets.utils.Batch
            batch = batch.to(device, non_blocking=True)
            # batch.dense_features [B, 13] float32, batch.sparse_features KJT (26 keys), batch.labels [B] float32
    for batch in splits.val: ...             # unshuffled, the last short batch kept

* `data_dir`: where the raw files are (default ``$REPRO_DATA_DIR``, see :mod:`.datadir`); `raw`: an
  explicit raw file or folder instead. `cache_dir`: where caches go (default ``$REPRO_CACHE_DIR``,
  see :mod:`.cache`).
* Training batches are block-shuffled from `seed` (a new order per :meth:`BatchLoader.set_epoch`)
  and sharded over (`rank`, `world_size`); evaluation batches are in file order.
* ``splits.manifest`` is the cache's manifest (protocol parameters, raw files, row counts, skipped
  and padded lines, checks); record it with the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.data import registry
from harness.data.datadir import resolve_data_dir
from harness.data.loader import BatchLoader, CachedSplit
from harness.data.progress import ProgressFn


@dataclass(frozen=True)
class Splits:
    """The loaders of a prepared dataset and what a model needs to know about its features."""

    train: BatchLoader
    val: BatchLoader
    test: BatchLoader
    table_sizes: dict[str, int]
    dense_names: list[str]
    keys: list[str]
    folder: Path
    manifest: dict[str, Any]

    @property
    def num_dense(self) -> int:
        """Width of the dense features."""
        return len(self.dense_names)


def load_splits(dataset_id: str, data_dir: str | os.PathLike[str] | None = None,
                cache_dir: str | os.PathLike[str] | None = None, *, batch_size: int = 2048,
                eval_batch_size: int | None = None, seed: int = 0, rank: int = 0, world_size: int = 1,
                raw: str | os.PathLike[str] | None = None, skip_bad_lines: bool = False,
                progress: ProgressFn | None = None, index_dtype: torch.dtype = torch.int64) -> Splits:
    """Prepare `dataset_id` if needed and open its train/val/test loaders (see the module docstring)."""
    entry = registry.get_entry(dataset_id)
    manifest = registry.prepare(entry, resolve_data_dir(data_dir), raw=raw, skip_bad_lines=skip_bad_lines,
                                progress=progress, cache_dir=Path(cache_dir) if cache_dir else None)
    folder = Path(manifest["folder"])
    keys = [*manifest["sparse_names"], *entry.jagged_keys]
    eval_size = eval_batch_size or batch_size

    def loader(split: str, train: bool) -> BatchLoader:
        cached = CachedSplit.open(folder, split, entry.jagged_keys)
        return BatchLoader(cached, keys, batch_size if train else eval_size, shuffle=train, seed=seed, rank=rank,
                           world_size=world_size, index_dtype=index_dtype)

    sizes = dict(manifest["table_sizes"])
    return Splits(train=loader("train", True), val=loader("val", False), test=loader("test", False),
                  table_sizes=sizes, dense_names=list(manifest["dense_names"]), keys=keys, folder=folder,
                  manifest=manifest)
