"""Fork safety: CUDA is never initialised in the process that forks jobs (poc's job server).

A process forked from one that has initialised CUDA cannot use the GPU: torch raises "Cannot
re-initialize CUDA in forked subprocess" at the job's first CUDA call, after its data and
model have loaded. Two things initialise CUDA without a GPU call in sight: torch's
`is_available()` (unless PYTORCH_NVML_BASED_CUDA_CHECK=1 makes it ask NVML instead) and
`import bitsandbytes`, which peft before 0.22 imports where it is installed. So the server starts with
that variable set, preloads nothing that imports bitsandbytes (`processes.preload`), and this
module, imported last in the server, notes what the preload left behind; every job checks it
before it starts (`problem`), so a regression is one clear line in the job's record.
"""

from __future__ import annotations

import os
import sys

import torch

NVML_CHECK = {"PYTORCH_NVML_BASED_CUDA_CHECK": "1"}

# Imported last by the job server's preload: the state a forked job starts from.
AT_PRELOAD = {"cuda_initialized": torch.cuda.is_initialized(), "bitsandbytes": "bitsandbytes" in sys.modules}


def problem() -> str | None:
    """Why this forked job cannot use CUDA, or None."""
    if AT_PRELOAD["cuda_initialized"] or torch.cuda._is_in_bad_fork():  # noqa: SLF001 - torch's own flag
        cause = " (bitsandbytes was imported there)" if AT_PRELOAD["bitsandbytes"] else ""
        return ("CUDA was initialised in poc's job server before this job was forked from it" + cause +
                ", so the job cannot use the GPU; this is a bug in poc: please report it with `poc doctor --gpu`")
    return None


def state() -> dict[str, bool]:
    """What this forked job started from: CUDA and bitsandbytes in the server, whether peft was
    preloaded, torch asking NVML, and torch's own bad-fork flag (`poc doctor --gpu` shows it)."""
    return {
        "cuda_initialized_in_server": AT_PRELOAD["cuda_initialized"],
        "bitsandbytes_in_server": AT_PRELOAD["bitsandbytes"],
        "peft_preloaded": "peft" in sys.modules,
        "nvml_based_cuda_check": os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1",
        "bad_fork": torch.cuda._is_in_bad_fork(),  # noqa: SLF001
    }
