"""harness.quiet drops exactly the known library noise: same logger and source, matching message only."""

from __future__ import annotations

import logging
import warnings

from harness.quiet import quiet_library_noise


def _record(name: str, path: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, path, 56, msg, None, None)


def test_only_the_known_messages_from_their_modules_are_dropped():
    quiet_library_noise()
    quiet_library_noise()  # idempotent
    fx = logging.getLogger("torch.fx._symbolic_trace")
    assert len(fx.filters) == 1
    noise = "is_fx_tracing will return true for both fx.symbolic_trace and torch.export. Please use ..."
    assert not fx.filters[0].filter(_record(fx.name, "/x/torch/fx/_symbolic_trace.py", noise))
    assert fx.filters[0].filter(_record(fx.name, "/x/torch/fx/_symbolic_trace.py", "something else"))
    root = [f for f in logging.getLogger().filters if getattr(f, "prefix", "").startswith("Sharding spec")]
    assert len(root) == 1
    assert not root[0].filter(_record("root", "/x/torchrec/distributed/planner/planners.py", "Sharding spec not found for a.b"))
    assert root[0].filter(_record("root", "/x/mycode.py", "Sharding spec not found for a.b"))


def test_known_warnings_are_ignored_only_from_their_module():
    quiet_library_noise()
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always")
        quiet_library_noise()
        warnings.warn_explicit("Please use DTensor instead and we are deprecating ShardedTensor.", FutureWarning,
                               "overrides.py", 1, module="torch.overrides")
        warnings.warn_explicit("Please use DTensor instead and we are deprecating ShardedTensor.", FutureWarning,
                               "mine.py", 1, module="mine")
    assert [str(w.message) for w in caught] == ["Please use DTensor instead and we are deprecating ShardedTensor."]
    assert caught[0].filename == "mine.py"


def _fx_noise_filtered(shared: object, job: int, progress: object) -> bool:
    """A job that reports whether its (spawned) worker drops TorchRec's fx-tracing message."""
    fx = logging.getLogger("torch.fx._symbolic_trace")
    noise = "is_fx_tracing will return true for both fx.symbolic_trace and torch.export."
    return not all(f.filter(_record(fx.name, "/x/torch/fx/_symbolic_trace.py", noise)) for f in fx.filters)


def test_spawned_job_workers_drop_the_same_noise() -> None:
    from harness.experiment import NullProgress
    from harness.parallel import run_jobs

    assert run_jobs(_fx_noise_filtered, None, [0, 1], workers=2, progress=NullProgress(),
                    summarize=lambda job, result: "") == [True, True]
