"""Shared test setup: the data directory of real samples, one torch thread per test, a local HTTP mirror,
free ports and torchrun launches of test worker scripts."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

# Real data for tests: $REPRO_DATA_DIR, else ../shared/datasets beside the checkout.
os.environ.setdefault("REPRO_DATA_DIR", str(SHARED_DATASETS))


@pytest.fixture
def real_data_dir() -> Path:
    """The folder of real datasets and samples; tests needing it skip, with the reason, if absent."""
    path = Path(os.environ["REPRO_DATA_DIR"])
    if not path.is_dir():
        pytest.skip(f"real data folder {path} absent (set REPRO_DATA_DIR)")
    return path


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Every test runs on one torch thread, then the session's setting comes back.

    Small-batch CPU training is several times faster on one thread on a loaded 2-core machine, and
    a test's numbers then do not depend on how many cores the machine has.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


@pytest.fixture
def smoke_run(tmp_path: Path) -> Callable[..., tuple[Any, Any]]:
    """Run a paper's smoke profile in this process: ``paper, result = smoke_run("bdr", seeds=[0, 1])``."""
    from harness.experiment import ExperimentContext
    from repro.registry import get_paper

    def run(paper_id: str, seeds: list[int] = [0, 1]) -> tuple[Any, Any]:
        paper = get_paper(paper_id)
        ctx = ExperimentContext(paper_id=paper.id, profile="smoke", seeds=list(seeds), device="cpu",
                                data_dir=tmp_path, work_dir=tmp_path / "work",
                                params=paper.parse_params(paper.profiles["smoke"].params))
        return paper, paper.experiment()(ctx)

    return run


def _free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> Callable[[], int]:
    """``free_port()``: a fresh localhost port for a process group's rendezvous."""
    return _free_port


@pytest.fixture
def torchrun() -> Callable[..., int]:
    """``torchrun(script, *args, path=[...], env={...}, timeout=120, check=True)``: run a test worker
    script on 2 gloo processes through ``torch.distributed.run`` and return its exit code.

    The script's folder, this checkout and `path` go in front of ``PYTHONPATH`` (workers import their
    test helpers and the checkout under test, not an installed copy), each process gets one OpenMP
    thread, and the output is dropped.
    """

    def run(script: Path, *args: str, path: list[Path] | None = None, env: dict[str, str] | None = None,
            timeout: float = 120, check: bool = True) -> int:
        folders = [str(script.parent), str(REPO), *(str(p) for p in path or []), os.environ.get("PYTHONPATH", "")]
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(folders), "OMP_NUM_THREADS": "1", **(env or {})}
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                               "--master-port", str(_free_port()), str(script), *args],
                              env=environment, check=check, timeout=timeout,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return done.returncode

    return run
