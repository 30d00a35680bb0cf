"""Where datasets live: the ``--data-dir`` flag, else ``$REPRO_DATA_DIR``, else a per-user cache.

Inside it each dataset has its own folder (``census_income_kdd/``, ``criteo_dac/`` …) holding the
official files under their official names, as in ``../shared/datasets``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "REPRO_DATA_DIR"


def default_cache_dir() -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/recrepro/datasets`` (``~/.cache/…`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recrepro" / "datasets"


def resolve_data_dir(flag: str | os.PathLike[str] | None = None) -> Path:
    """The data directory in force: `flag`, else ``$REPRO_DATA_DIR``, else :func:`default_cache_dir`."""
    if flag:
        return Path(flag).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return default_cache_dir()
