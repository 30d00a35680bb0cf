"""Data-harness benchmarks: Criteo preprocessing time and peak memory, loader epoch time.

Direction: asv counts every number as lower-is-better (``asv compare`` / ``asv continuous`` flag
an *increase* beyond ``--factor``), and has no switch to reverse that. So throughput is measured
as time, never as a rate: ``time_prepare`` is the wall time of preprocessing ``rows`` rows,
``time_train_epoch`` that of one loader epoch, and ``track_peak_rss`` is in bytes. The rates of
the targets convert directly: rows/s = ``rows / time_prepare``.

Reference: facebookresearch/dlrm's ``data_utils.py`` preprocessed a 400,000-line Kaggle-format
file at about 5,700 rows/s with 0.5 GB peak memory growing with the file. Targets on a 2-core
machine: preprocessing >= 250,000 rows/s, i.e. ``time_prepare`` <= 4 s per million rows, with
peak memory flat in the file size; the loader >= 1M samples/s, i.e. ``time_train_epoch`` <= 1 s
per million training rows. Measured figures and what changed them: PERFORMANCE.md.

The files are synthetic Criteo TSV in the native format (seeded, so every run sees the same
bytes), written by each class's ``setup_cache``. Preprocessing runs at 250,000 and 1,000,000 rows
(at least 1M rows; a 4x range shows whether time is linear and memory flat);
the loader reads a 400,000-row file, so that ``asv run --quick`` of the whole suite stays within
minutes on 2 cores.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from asv_runner.benchmarks.mark import SkipNotImplemented

from harness.data import pipeline
from harness.data.api import load_splits
from harness.data.criteo import kaggle_dlrm_job
from harness.data.synthetic import write_criteo_tsv

from .common import SEED

SIZES = [250_000, 1_000_000]
LOADER_ROWS = 400_000
CHILD_TIMEOUT_S = 300  # below the benchmark's asv timeout, so a stuck child is killed by us, not orphaned

# Run by a fresh interpreter: preprocess argv[1] into argv[2], then print the process's peak RSS
# in bytes. It imports only the preprocessing path (no torch), as `repro data prepare` does. The
# peak is VmHWM, the high-water mark of the process's own memory since exec. Not ru_maxrss: Linux
# carries the pre-exec image's high-water mark into it (the parent's, as subprocess forks or
# vforks), so under a 1.5 GB parent a ~280 MB preprocessing run reported 1.5 GB.
_PEAK_RSS_SCRIPT = """\
import sys
from pathlib import Path
from harness.data import pipeline
from harness.data.criteo import kaggle_dlrm_job
pipeline.run(kaggle_dlrm_job([Path(sys.argv[1])]), Path(sys.argv[2]))
with open("/proc/self/status") as status:
    print(next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:")))
"""


def _criteo_file(rows: int) -> str:
    """The synthetic Criteo file of `rows` rows in the current (asv's cache) folder, written if missing."""
    path = Path(f"criteo_{rows}.txt").resolve()
    if not path.is_file():
        write_criteo_tsv(path, rows, seed=SEED)
    return str(path)


def _prepare(source: str, folder: Path) -> dict:
    """One full dlrm-protocol preprocessing run of `source` into a fresh `folder`; its manifest."""
    shutil.rmtree(folder, ignore_errors=True)
    return pipeline.run(kaggle_dlrm_job([Path(source)]), folder)


def _peak_rss_of_prepare(source: str, folder: Path, timeout: float = CHILD_TIMEOUT_S) -> int:
    """Peak resident bytes of a fresh Python process that preprocesses `source` into `folder`.

    A child process, so that the figure is the preprocessing's own and not the benchmark
    process's (which has imported torch and asv); Linux only (it reads ``/proc/self/status``).
    ``-P`` keeps the working directory off the child's ``sys.path``: run from a checkout, its
    ``repro/`` source folder (which lacks ``harness``) would otherwise shadow the installed
    package in a non-editable install, as in asv's history environments.
    """
    shutil.rmtree(folder, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-P", "-c", _PEAK_RSS_SCRIPT, source, str(folder)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"preprocessing child exited with {proc.returncode}:\n{proc.stderr}")
    return int(proc.stdout.split()[-1])


class PrepareCriteo:
    """Streaming two-pass preprocessing of a Criteo TSV file into the memory-mapped cache."""

    params = SIZES
    param_names = ["rows"]
    timeout = 600
    number = 1
    repeat = (1, 3, 60.0)

    def setup_cache(self) -> dict[int, str]:
        """Write the synthetic files once."""
        return {rows: _criteo_file(rows) for rows in SIZES}

    def setup(self, files: dict[int, str], rows: int) -> None:
        """Start every repeat from an empty cache folder."""
        self.folder = Path(f"cache_{rows}").resolve()
        shutil.rmtree(self.folder, ignore_errors=True)

    def time_prepare(self, files: dict[int, str], rows: int) -> None:
        """Pass 1 (parse, resumable chunks) and pass 2 (dictionaries, splits, checks, digests)."""
        _prepare(files[rows], self.folder)

    def track_peak_rss(self, files: dict[int, str], rows: int) -> int:
        """Peak resident memory of a preprocessing run in its own process (must not grow with `rows`)."""
        if not sys.platform.startswith("linux"):
            raise SkipNotImplemented("peak RSS is read from Linux's /proc/self/status")
        return _peak_rss_of_prepare(files[rows], self.folder)

    track_peak_rss.unit = "bytes"  # type: ignore[attr-defined]


class LoadCriteo:
    """Training batches (torchrec Batch with a 26-key KJT) cut from a prepared 400k-row cache."""

    params = [1024, 2048, 8192]
    param_names = ["batch_size"]
    timeout = 600

    def setup_cache(self) -> tuple[str, str]:
        """Write and prepare the loader's file once; the raw file and the cache folder."""
        raw, folder = _criteo_file(LOADER_ROWS), str(Path("loader_cache").resolve())
        load_splits("criteo-kaggle-dlrm", raw=raw, cache_dir=folder)
        return raw, folder

    def setup(self, prepared: tuple[str, str], batch_size: int) -> None:
        """Open the loaders (memory maps) outside the timed region."""
        raw, folder = prepared
        self.splits = load_splits("criteo-kaggle-dlrm", raw=raw, cache_dir=folder, batch_size=batch_size)

    def time_train_epoch(self, prepared: tuple[str, str], batch_size: int) -> None:
        """One block-shuffled epoch over the training rows (~343k of the 400k)."""
        for _ in self.splits.train:
            pass
