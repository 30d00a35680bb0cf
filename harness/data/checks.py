"""Integrity checks of a prepared cache, run after every preprocessing run and by ``repro data verify``.

They catch the failures the field has shipped (../shared/research/anchors.md §8-9): overlapping
splits (torchrec's Kaggle example validated on training rows), a label left among the features
(AUC 1.0 in torch-rechub#56), a constant label, row counts or files that changed (silent
corruption), and categorical indices outside their embedding tables. Each failure raises a
:class:`~harness.errors.DataError` naming the cache folder, the split and the array.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data.cache import file_digests, load_npy, read_manifest, read_npy_blocks
from harness.errors import DataError

LEAK_SAMPLE_ROWS = 200_000
SCAN_ROWS = 1 << 18


def _fail(folder: Path, message: str) -> DataError:
    """A DataError about the cache in `folder`, with the fix."""
    return DataError(f"{folder}: integrity check failed: {message}. The cache is unusable: delete the folder and "
                     f"run `repro data prepare` again (if it fails again, the raw file is at fault).")


def check_shapes(folder: Path, manifest: dict[str, Any]) -> None:
    """Every split's arrays exist with the row count and widths the manifest states."""
    n_dense, n_sparse = len(manifest["dense_names"]), len(manifest["sparse_names"])
    for split, rows in manifest["splits"].items():
        expected = {"labels": (rows,), "dense": (rows, n_dense), "sparse": (rows, n_sparse), "row_ids": (rows,)}
        for name, shape in expected.items():
            path = folder / split / f"{name}.npy"
            if not path.is_file():
                raise _fail(folder, f"{split}/{name}.npy is missing")
            got = load_npy(path).shape
            if got != shape:
                raise _fail(folder, f"{split}/{name}.npy has shape {got}, the manifest says {shape}")
        for key in manifest.get("jagged_names", []):
            offsets = load_npy(folder / split / f"{key}.offsets.npy")
            n_values = len(load_npy(folder / split / f"{key}.values.npy"))
            if len(offsets) != rows + 1 or offsets[0] != 0 or offsets[-1] != n_values or \
                    not _non_decreasing(folder / split / f"{key}.offsets.npy"):
                raise _fail(folder, f"{split}/{key}.offsets.npy is not a valid CSR offsets array for "
                                    f"{rows} rows and {n_values} values")
    if sum(manifest["splits"].values()) != manifest["rows"]:
        raise _fail(folder, f"the splits hold {sum(manifest['splits'].values())} rows, the raw files {manifest['rows']}")


def _non_decreasing(path: Path) -> bool:
    """Whether the 1-d array at `path` never decreases (scanned in blocks)."""
    last = None
    for block in read_npy_blocks(path, SCAN_ROWS):
        if len(block) and ((last is not None and block[0] < last) or (np.diff(block) < 0).any()):
            return False
        last = block[-1] if len(block) else last
    return True


def check_disjoint(folder: Path, manifest: dict[str, Any]) -> None:
    """No source row is in two splits (and every row id lies inside the raw files).

    One bit per source row marks the rows seen so far (memory: rows / 8 bytes), scanning the
    row ids in blocks.
    """
    seen = np.zeros((manifest["rows"] + 7) // 8, dtype=np.uint8)
    for split in manifest["splits"]:
        for ids in read_npy_blocks(folder / split / "row_ids.npy", SCAN_ROWS):
            if not len(ids):
                continue
            if ids.min() < 0 or ids.max() >= manifest["rows"]:
                raise _fail(folder, f"{split}/row_ids.npy: a row id lies outside the raw files")
            byte, bit = ids >> 3, (np.uint8(1) << (ids & 7).astype(np.uint8))
            again = np.flatnonzero(seen[byte] & bit)
            if not len(again):
                ids_sorted = np.sort(ids)
                again = np.flatnonzero(ids_sorted[1:] == ids_sorted[:-1])
                ids = ids_sorted
            if len(again):
                raise _fail(folder, f"the splits are not disjoint: source row {int(ids[again[0]])} is in two "
                                    f"splits (or twice in '{split}')")
            np.bitwise_or.at(seen, byte, bit)


def check_labels(folder: Path, manifest: dict[str, Any], min_rows: int = 50) -> None:
    """Labels are finite and not constant in any split of at least `min_rows` rows."""
    for split, rows in manifest["splits"].items():
        if not rows:
            continue
        low, high = np.inf, -np.inf
        for labels in read_npy_blocks(folder / split / "labels.npy", SCAN_ROWS):
            if not np.isfinite(labels).all():
                raise _fail(folder, f"{split}/labels.npy holds NaN or infinite values")
            low, high = min(low, labels.min()), max(high, labels.max())
        if rows >= min_rows and low == high:
            raise _fail(folder, f"every label of split '{split}' is {low} (a constant label: wrong label "
                                f"column or a broken filter)")


def _determines_label(column: np.ndarray, labels: np.ndarray) -> bool:
    """True if `column` takes two values that coincide exactly with the two label classes."""
    if len(pd.unique(column)) != 2 or len(pd.unique(labels)) != 2:
        return False
    return len(np.unique(np.stack([column, labels.astype(column.dtype)], axis=1), axis=0)) == 2


def check_no_label_leak(folder: Path, manifest: dict[str, Any], min_rows: int = 200) -> None:
    """The label column is not among the features, by name and by value (on the first training rows)."""
    label = manifest["label"]
    if label in manifest["dense_names"] or label in manifest["sparse_names"]:
        raise _fail(folder, f"the label column '{label}' is listed among the features")
    split = next(iter(manifest["splits"]))
    labels = np.asarray(load_npy(folder / split / "labels.npy")[:LEAK_SAMPLE_ROWS])
    if len(labels) < min_rows or len(np.unique(labels)) != 2:
        return
    for kind, names in (("dense", manifest["dense_names"]), ("sparse", manifest["sparse_names"])):
        block = np.asarray(load_npy(folder / split / f"{kind}.npy")[:LEAK_SAMPLE_ROWS])
        for j, name in enumerate(names):
            if _determines_label(block[:, j], labels):
                raise _fail(folder, f"feature '{name}' equals the label on the first {len(labels)} rows of "
                                    f"'{split}' (the label leaked into the features)")


def check_index_ranges(folder: Path, manifest: dict[str, Any]) -> None:
    """Every categorical index lies in ``[0, table size)`` of its key."""
    sizes = np.asarray([manifest["table_sizes"][k] for k in manifest["sparse_names"]], dtype=np.int64)
    for split in manifest["splits"]:
        for block in read_npy_blocks(folder / split / "sparse.npy", SCAN_ROWS):
            if not len(block):
                continue
            low, high = block.min(axis=0), block.max(axis=0)
            bad = np.flatnonzero((low < 0) | (high >= sizes))
            if len(bad):
                j = int(bad[0])
                raise _fail(folder, f"{split}/sparse.npy: index range [{low[j]}, {high[j]}] of key "
                                    f"'{manifest['sparse_names'][j]}' exceeds its table size {sizes[j]}")
        for key in manifest.get("jagged_names", []):
            size = manifest["table_sizes"][key]
            for values in read_npy_blocks(folder / split / f"{key}.values.npy", SCAN_ROWS):
                if len(values) and (values.min() < 0 or values.max() >= size):
                    raise _fail(folder, f"{split}/{key}.values.npy: indices [{values.min()}, {values.max()}] "
                                        f"exceed the table size {size} of '{key}'")


def check_cache(folder: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """Run every structural check on a freshly written cache; returns the check names with ``ok``."""
    checks = (check_shapes, check_disjoint, check_labels, check_no_label_leak, check_index_ranges)
    for check in checks:
        check(folder, manifest)
    return {check.__name__.removeprefix("check_"): "ok" for check in checks}


def verify_cache(folder: Path) -> dict[str, Any]:
    """Re-hash every cached array against the manifest, then re-run the structural checks."""
    manifest = read_manifest(folder)
    if manifest is None:
        raise DataError(f"{folder}: not a prepared cache (no manifest.json); run `repro data prepare` first.")
    digests = file_digests(folder)
    for name, digest in manifest["digests"].items():
        if digests.get(name) != digest:
            raise _fail(folder, f"{name} changed since it was prepared (sha256 {digests.get(name)}, "
                                f"manifest {digest})")
    return {"folder": str(folder), "rows": manifest["rows"], "splits": manifest["splits"],
            "files": len(digests), "checks": check_cache(folder, manifest)}
