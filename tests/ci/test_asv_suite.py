"""The asv suite (benchmarks/) keeps asv's lower-is-better convention, and its memory probe works.

asv counts every number as lower-is-better (``asv compare`` and ``asv continuous`` mark an
increase beyond ``--factor`` as a regression) and has no switch to reverse that for one
benchmark. A rate (rows/s) or a score (AUC) would therefore be flagged backwards: an improvement
reported as a regression, and a real regression let through by the nightly gate. So every
``track_*`` benchmark must declare one of the lower-is-better units below (ci/README.md). The
suite is read the way asv discovers it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from asv_runner.discovery import disc_benchmarks

from harness.data.synthetic import write_criteo_tsv

REPO = Path(__file__).resolve().parents[2]
# Seconds (time per unit of work), bytes (memory), the quality losses of bench_quality, and
# bench_formats' quantisation noise (-QSNR) and fake-quantisation overhead (a time ratio).
LOWER_IS_BETTER_UNITS = {"seconds", "bytes", "1 - AUC", "NE", "-QSNR dB", "time ratio", "FLOPs"}


@pytest.fixture(scope="module")
def suite() -> dict[str, Any]:
    """Every benchmark of benchmarks/ by name, as asv's runner discovers them."""
    with pytest.MonkeyPatch.context() as patch:
        # Appended, not prepended: the checkout's repro/ folder must not shadow the installed package.
        patch.setattr(sys, "path", [*sys.path, str(REPO)])
        return {b.name: b for b in disc_benchmarks(str(REPO / "benchmarks"))}


def bench_data_module(suite: dict[str, Any]) -> ModuleType:
    """The imported benchmarks.bench_data (imported by the `suite` fixture)."""
    assert any(name.startswith("bench_data.") for name in suite)
    return sys.modules["benchmarks.bench_data"]


def test_every_track_benchmark_has_a_lower_is_better_unit(suite: dict[str, Any]) -> None:
    tracks = {name: b.unit for name, b in suite.items() if b.type == "track"}
    assert tracks, "no track_* benchmark discovered"
    wrong = {name: unit for name, unit in tracks.items() if unit not in LOWER_IS_BETTER_UNITS}
    assert not wrong, f"track_* benchmarks in a unit asv would compare the wrong way round: {wrong}"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the probe reads Linux's /proc/self/status")
def test_peak_rss_probe_measures_the_child_not_its_parent(suite: dict[str, Any], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_criteo_tsv(tmp_path / "criteo.txt", 2_000, seed=0)
    monkeypatch.chdir(REPO)  # the checkout as working directory, where its repro/ could shadow the package
    ballast = bytearray(2**30)  # a 1 GiB parent: ru_maxrss of the child would report at least this
    ballast[::4096] = b"\x01" * len(range(0, 2**30, 4096))  # touch every page so that it is resident
    peak = bench_data_module(suite)._peak_rss_of_prepare(str(source), tmp_path / "cache")
    assert 20 * 2**20 < peak < len(ballast)
    assert any((tmp_path / "cache").iterdir())
