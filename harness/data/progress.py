"""Progress of a preprocessing run: rows done, rows/s and ETA, reported to a callback.

Preprocessing a full Criteo file takes minutes; the user sees a live line with the rate and the
time left. The harness only computes the numbers; the CLI decides how to draw them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class PrepareProgress:
    """One progress report: `stage` (e.g. ``parse``), rows and bytes done, rate and ETA in seconds."""

    stage: str
    rows: int
    done_bytes: int
    total_bytes: int | None
    rows_per_s: float
    eta_s: float | None


ProgressFn = Callable[[PrepareProgress], None]


class RateMeter:
    """Turns cumulative (rows, bytes) counts into :class:`PrepareProgress` reports for one stage."""

    def __init__(self, stage: str, total_bytes: int | None, callback: ProgressFn | None,
                 start_bytes: int = 0) -> None:
        self.stage = stage
        self.total_bytes = total_bytes
        self.callback = callback
        self.start_bytes = start_bytes
        self.started = time.perf_counter()

    def report(self, rows: int, done_bytes: int) -> PrepareProgress:
        """Report that `rows` rows (this session) and `done_bytes` bytes (in total) are done."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = rows / elapsed
        eta = None
        if self.total_bytes and done_bytes > self.start_bytes:
            bytes_per_s = (done_bytes - self.start_bytes) / elapsed
            eta = max(self.total_bytes - done_bytes, 0) / bytes_per_s
        event = PrepareProgress(self.stage, rows, done_bytes, self.total_bytes, rate, eta)
        if self.callback is not None:
            self.callback(event)
        return event

