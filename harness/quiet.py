"""Silence library messages a user can do nothing about, each by its exact logger and message.

Only what is known to be noise and cannot be acted on by a user of recrepro is dropped, matched
by the emitting module's logger name and the start of the message; every other warning stays.

- ``torch.fx._symbolic_trace``: "is_fx_tracing will return true for both fx.symbolic_trace and
  torch.export ...". torch 2.13 logs it once per process when TorchRec's modules call the
  deprecated ``torch.fx._symbolic_trace.is_fx_tracing`` (``torchrec/modules/regroup.py``,
  ``feature_processor.py``); it addresses TorchRec's developers, not ours or our users.
"""

from __future__ import annotations

import logging

KNOWN_NOISE: tuple[tuple[str, str], ...] = (
    ("torch.fx._symbolic_trace", "is_fx_tracing will return true for both fx.symbolic_trace and torch.export"),
)


class _DropMessage(logging.Filter):
    """Drops the records of one logger whose message starts with a given text."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def quiet_library_noise() -> None:
    """Install the filters of :data:`KNOWN_NOISE` (idempotent: each logger gets one filter per message)."""
    for logger_name, prefix in KNOWN_NOISE:
        logger = logging.getLogger(logger_name)
        if not any(isinstance(f, _DropMessage) and f.prefix == prefix for f in logger.filters):
            logger.addFilter(_DropMessage(prefix))
