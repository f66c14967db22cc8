"""The context a record carries: package versions, the project's commit, the hardware."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import torch

PACKAGES = ("poc-cli", "torch", "transformers", "peft", "accelerate", "nvidia-ml-py", "pandas", "numpy")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape a result (None when absent)."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> str | None:
    """The commit of the poc checkout this code runs from, '+dirty' if modified; None outside git."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def hardware() -> dict[str, Any]:
    """CPU, memory and the accelerator torch sees."""
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_total_mib": round(psutil.virtual_memory().total / 2**20),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
    return info


def environment() -> dict[str, Any]:
    """Everything above, as stored in each record."""
    return {"packages": package_versions(), "git_commit": git_commit(), "hardware": hardware()}
