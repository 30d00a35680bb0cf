"""Fixtures of the data-harness tests: an isolated cache folder, small synthetic Criteo files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data.synthetic import write_criteo_tsv


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test prepares into its own cache folder ($REPRO_CACHE_DIR)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("REPRO_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def criteo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20,000-line synthetic Criteo train.txt (shared, read-only)."""
    return write_criteo_tsv(tmp_path_factory.mktemp("criteo") / "train.txt", rows=20_000, seed=3, max_vocab=5_000)
