"""Silence library messages a user can do nothing about, each by its exact module and message.

Only what is known to be noise for a user of recrepro is dropped, matched by the emitting
module (logger name and source file, or the warning's module) and the start of the message;
every other warning stays. Each entry says where it comes from:

- ``torch.fx._symbolic_trace``: "is_fx_tracing will return true for both fx.symbolic_trace and
  torch.export ...", logged once per process when TorchRec's modules call the deprecated
  ``is_fx_tracing`` (``torchrec/modules/regroup.py``, ``feature_processor.py``).
- TorchRec's planner under ``--nproc N`` (``harness.train.distributed``): "The topology was
  constructed directly ..." (``planner/types.py``), "There is a known issue with TorchRec's dense
  tensor size calculation in dry run ..." (``planner/storage_reservations.py``), "Sharding spec
  not found for <table>" for tables it places data-parallel (``planner/planners.py``, on the root
  logger), "Sharding Type is data_parallel, caching params will be ignored"
  (``distributed/utils.py``) and the FutureWarning "HeuristicalStorageReservation is known to
  cause issues" (``planner/planners.py``): advice to TorchRec's integrators about dry runs and
  caches this project does not use, printed once per rank and table.
- TorchRec's own use of deprecated torch APIs under ``--nproc N``: FutureWarnings that
  ``broadcast_buffers`` is deprecated (``torchrec/distributed/embeddingbag.py``,
  ``model_parallel.py``) and that ShardedTensor is deprecated (raised through
  ``torch/overrides.py``), and torch's UserWarning that FBGEMM's
  ``dense_embedding_codegen_lookup_function`` (data-parallel tables) has no autograd kernel
  registered and falls through. Two processes train to the same loss curve as one
  (``tests/train/test_distributed.py``), so the fall-through computes the right gradients.
"""

from __future__ import annotations

import logging
import warnings

# (logger name, fragment of the emitting source file, start of the message)
KNOWN_LOG_NOISE: tuple[tuple[str, str, str], ...] = (
    ("torch.fx._symbolic_trace", "torch/fx/_symbolic_trace.py",
     "is_fx_tracing will return true for both fx.symbolic_trace and torch.export"),
    ("torchrec.distributed.planner.types", "torchrec/distributed/planner/types.py",
     "The topology was constructed directly rather than via TopologyFactory"),
    ("torchrec.distributed.planner.storage_reservations", "torchrec/distributed/planner/storage_reservations.py",
     "There is a known issue with TorchRec's dense tensor size calculation in dry run"),
    ("root", "torchrec/distributed/planner/planners.py", "Sharding spec not found for "),
    ("torchrec.distributed.utils", "torchrec/distributed/utils.py", "Sharding Type is data_parallel, caching params"),
)
# (category, module regex, message regex) for warnings.filterwarnings
KNOWN_WARNINGS: tuple[tuple[type[Warning], str, str], ...] = (
    (FutureWarning, r"torchrec\.distributed\.planner\.planners", r"HeuristicalStorageReservation is known to cause"),
    (FutureWarning, r"torchrec\.distributed\.(embeddingbag|model_parallel)", r"`broadcast_buffers` is deprecated"),
    (FutureWarning, r"torch\.overrides", r"Please use DTensor instead and we are deprecating ShardedTensor"),
    (UserWarning, r"torch\.autograd\.graph",
     r"fbgemm::dense_embedding_codegen_lookup_function: an autograd kernel was not registered"),
)


class _DropMessage(logging.Filter):
    """Drops one logger's records that come from `source` and whose message starts with `prefix`."""

    def __init__(self, source: str, prefix: str) -> None:
        super().__init__()
        self.source, self.prefix = source, prefix

    def filter(self, record: logging.LogRecord) -> bool:
        from_source = record.pathname.replace("\\", "/").endswith(self.source)
        return not (from_source and str(record.msg).startswith(self.prefix))


def quiet_library_noise() -> None:
    """Install the filters of :data:`KNOWN_LOG_NOISE` and :data:`KNOWN_WARNINGS` (idempotent)."""
    for logger_name, source, prefix in KNOWN_LOG_NOISE:
        logger = logging.getLogger() if logger_name == "root" else logging.getLogger(logger_name)
        if not any(isinstance(f, _DropMessage) and (f.source, f.prefix) == (source, prefix) for f in logger.filters):
            logger.addFilter(_DropMessage(source, prefix))
    for category, module, message in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
