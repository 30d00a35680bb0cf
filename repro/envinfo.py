"""The environment a run happened in, for its record: versions, hardware, threads, git state."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "fbgemm-gpu-cpu", "fbgemm-gpu", "torchrec", "numpy", "pandas", "scipy",
            "torchmetrics", "pyarrow", "recrepro")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide a run's numbers (absent ones omitted)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return versions


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> list[str]:
    """Names of the visible CUDA devices (empty on CPU-only machines)."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def git_state(repo: Path) -> dict[str, Any]:
    """The git commit of `repo` and whether its work tree has uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def capture(repo: Path) -> dict[str, Any]:
    """Everything above, as one JSON-ready dict."""
    import torch

    return {
        "packages": package_versions(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpus": gpu_info(),
        "git": git_state(repo),
        "hostname": platform.node(),
        "load_average": load_average(),
    }


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages when the record is written: wall times on a shared
    machine mean little without the load they ran under. None where the OS has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (OSError, AttributeError):
        return None
