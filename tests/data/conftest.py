"""Fixtures of the data-harness tests: an isolated cache folder, small synthetic Criteo files, a local HTTP mirror."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path
from typing import Iterator

import pytest

from repro.harness.data.synthetic import write_criteo_tsv


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



@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving the folder it yields (never a real internet address)."""
    root = tmp_path / "mirror"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
