"""Data-harness benchmarks (issue 3, point 8): Criteo preprocessing rows/s and peak memory, loader samples/s.

Reference: facebookresearch/dlrm's ``data_utils.py`` preprocessed a 400,000-line Kaggle-format
file at about 5,700 rows/s with 0.5 GB peak memory growing with the file. Targets on a 2-core
machine: preprocessing >= 250,000 rows/s with memory flat in the file size; the loader >= 1M
samples/s. Measured figures and what changed them: harness/data/PERFORMANCE.md. The files are synthetic Criteo TSV in the native format (seeded, so every run sees the
same bytes), written once per suite by ``setup_cache``.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from repro.harness.data import pipeline
from repro.harness.data.api import load_splits
from repro.harness.data.criteo import kaggle_dlrm_job
from repro.harness.data.synthetic import write_criteo_tsv

SIZES = [250_000, 1_000_000, 4_000_000]
LOADER_ROWS = 1_000_000
SEED = 20240601


def _criteo_files() -> dict[int, str]:
    """Synthetic Criteo files of every benchmarked size (in asv's working folder)."""
    files = {}
    for rows in SIZES:
        path = Path(f"criteo_{rows}.txt").resolve()
        if not path.is_file():
            write_criteo_tsv(path, rows, seed=SEED)
        files[rows] = str(path)
    return files


def _prepare(source: str, folder: Path) -> dict:
    """One full dlrm-protocol preprocessing run of `source` into a fresh `folder`."""
    shutil.rmtree(folder, ignore_errors=True)
    return pipeline.run(kaggle_dlrm_job([Path(source)]), folder)


class PrepareCriteo:
    """Streaming two-pass preprocessing of a Criteo TSV file into the memory-mapped cache."""

    params = SIZES
    param_names = ["rows"]
    timeout = 600
    number = 1
    repeat = (1, 3, 60.0)

    def setup_cache(self) -> dict[int, str]:
        """Write the synthetic files once."""
        return _criteo_files()

    def setup(self, files: dict[int, str], rows: int) -> None:
        """Start every repeat from an empty cache folder."""
        self.folder = Path(f"cache_{rows}").resolve()
        shutil.rmtree(self.folder, ignore_errors=True)

    def time_prepare(self, files: dict[int, str], rows: int) -> None:
        """Pass 1 (parse, resumable chunks) and pass 2 (dictionaries, splits, checks, digests)."""
        _prepare(files[rows], self.folder)

    def track_rows_per_s(self, files: dict[int, str], rows: int) -> float:
        """Preprocessing throughput (target >= 250,000 rows/s; dlrm reference ~5,700)."""
        began = time.perf_counter()
        _prepare(files[rows], self.folder)
        return rows / (time.perf_counter() - began)

    track_rows_per_s.unit = "rows/s"  # type: ignore[attr-defined]

    def track_peak_rss_mb(self, files: dict[int, str], rows: int) -> float:
        """Peak resident memory of a preprocessing run in its own process (must not grow with `rows`)."""
        code = ("import sys; from pathlib import Path; from benchmarks.bench_data import _prepare; "
                "_prepare(sys.argv[1], Path(sys.argv[2]))")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        subprocess.run([sys.executable, "-c", code, files[rows], str(self.folder)], check=True,
                       cwd=Path(__file__).resolve().parent.parent)
        return max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024

    track_peak_rss_mb.unit = "MB"  # type: ignore[attr-defined]


class LoadCriteo:
    """Training batches (torchrec Batch with a 26-key KJT) cut from the prepared 1M-row cache."""

    params = [1024, 2048, 8192]
    param_names = ["batch_size"]
    timeout = 600

    def setup_cache(self) -> str:
        """Prepare the 1M-row cache once."""
        files = _criteo_files()
        folder = Path("loader_cache").resolve()
        load_splits("criteo-kaggle-dlrm", raw=files[LOADER_ROWS], cache_dir=folder)
        return str(folder)

    def setup(self, cache: str, batch_size: int) -> None:
        """Open the loaders (memory maps) outside the timed region."""
        self.splits = load_splits("criteo-kaggle-dlrm", raw=_criteo_files()[LOADER_ROWS], cache_dir=cache,
                                  batch_size=batch_size)

    def _epoch(self) -> int:
        """Iterate one shuffled training epoch; returns the samples seen."""
        return sum(len(batch.labels) for batch in self.splits.train)

    def time_train_epoch(self, cache: str, batch_size: int) -> None:
        """One block-shuffled epoch over the ~857k training rows."""
        self._epoch()

    def track_samples_per_s(self, cache: str, batch_size: int) -> float:
        """Loader throughput (target >= 1,000,000 samples/s)."""
        began = time.perf_counter()
        samples = self._epoch()
        return samples / (time.perf_counter() - began)

    track_samples_per_s.unit = "samples/s"  # type: ignore[attr-defined]
