"""Peak memory of one method's warm-up inside the plan's own process, for the sizing table.

`poc plan` builds and trains every method for a few steps in one process, so their memory
must be told apart. On a GPU: torch's reserved peak (what the caching allocator held, which
is what a GPU must have room for), reset before each method, plus what the device already
held when the warm-up began (the CUDA context, and any other process). On CPU: the process's
peak resident memory while the method was built and trained, after handing the previous
method's freed heap back to the OS; it includes the interpreter and libraries a job also loads.
"""

from __future__ import annotations

import ctypes
import gc
import os
import psutil
import torch

from poc_cli.trackers.host_memory import ProcessTreeMemory

MIB = 2**20


def release_heap() -> None:
    """Free what the previous method left: Python's garbage, torch's cache, glibc's heap."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: freed heap stays mapped and the figure is an upper bound
        pass


def capacity_mib(device: torch.device) -> float:
    """The GPU's memory, or the machine's RAM on CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory / MIB
    return psutil.virtual_memory().total / MIB


def memory_scope(device: torch.device, context_mib: float | None, process: str = "warm-up") -> str:
    """What `WarmupPeak` counts on `device`, for the caption of a table of `process`'s peaks."""
    if device.type == "cuda":
        return f"GPU: torch's reserved peak + {context_mib or 0.0:,.0f} MiB in use before (CUDA context)"
    return f"host RSS of the {process} process (no GPU)"


def in_use_before_mib(device: torch.device) -> float:
    """What the GPU holds that is not this process's tensors: the CUDA context and other processes."""
    torch.cuda.init()
    free, total = torch.cuda.mem_get_info(device)
    return (total - free - torch.cuda.memory_reserved(device)) / MIB


class WarmupPeak:
    """`with WarmupPeak(device, context_mib) as peak: ...build and train...`; then `peak.mib` (None:
    not measured), counted as `memory_scope` says."""

    def __init__(self, device: torch.device, context_mib: float | None = None) -> None:
        self._device = device
        self._context_mib = context_mib
        self._host: ProcessTreeMemory | None = None
        self.mib: float | None = None

    def __enter__(self) -> WarmupPeak:
        release_heap()
        if self._device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self._device)
        else:
            self._host = ProcessTreeMemory(os.getpid(), interval_s=0.01)
            self._host.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._device.type == "cuda":
            self.mib = torch.cuda.max_memory_reserved(self._device) / MIB + (self._context_mib or 0.0)
            return
        assert self._host is not None
        self._host.__exit__(*exc)
        self.mib = self._host.result.peak_tree_rss_mib
