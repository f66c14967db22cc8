"""Peak memory of one method's warm-up inside the plan's own process, for the sizing table.

`poc plan` builds and trains every method for a few steps in one process, so their memory
must be told apart. On a GPU: torch's reserved peak (what the caching allocator held, which
is what a GPU must have room for), reset before each method, plus what the device holds
outside torch's allocator once the method's kernels have run: the CUDA context grows when
cuBLAS, cuDNN and the kernels are first loaded, so it is read at the end, not before the first
kernel (and any other process's memory is in it too). On CPU: the process's peak resident
memory while the method was built, trained and evaluated, after handing the previous method's
freed heap back to the OS; it includes the interpreter and libraries a job also loads.
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


def memory_scope(device: torch.device, outside_mib: float | None, process: str = "warm-up") -> str:
    """What `WarmupPeak` counts on `device`, for the caption of a table of `process`'s peaks."""
    if device.type == "cuda":
        return (f"GPU: torch's reserved peak + {outside_mib or 0.0:,.0f} MiB in use outside torch after the first "
                "kernels (CUDA context and libraries)")
    return f"host RSS of the {process} process (no GPU)"


def outside_torch_mib(device: torch.device) -> float:
    """What the GPU holds that is not this process's tensors or cache: the CUDA context with the
    libraries and kernels loaded so far, and other processes."""
    free, total = torch.cuda.mem_get_info(device)
    return (total - free - torch.cuda.memory_reserved(device)) / MIB


class WarmupPeak:
    """`with WarmupPeak(device) as peak: ...build, train and evaluate...`; then `peak.mib` (None: not
    measured), counted as `memory_scope` says, and on a GPU `peak.outside_mib`."""

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._host: ProcessTreeMemory | None = None
        self.mib: float | None = None
        self.outside_mib: float | None = None

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
            torch.cuda.synchronize(self._device)
            self.outside_mib = outside_torch_mib(self._device)
            self.mib = torch.cuda.max_memory_reserved(self._device) / MIB + self.outside_mib
            return
        assert self._host is not None
        self._host.__exit__(*exc)
        self.mib = self._host.result.peak_tree_rss_mib
