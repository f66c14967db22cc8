"""Peak resident memory of a process and its children, sampled from outside.

The job's own `ru_maxrss` (read inside the job) is exact for the job process itself;
this sampler adds the children (data-loader workers, tokenizer threads are inside) by
summing the RSS of the whole process tree every interval and keeping the maximum.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psutil

from poc_cli.trackers.sampler import PeriodicSampler

MIB = 2**20


@dataclass(frozen=True)
class HostMemory:
    """Peak of the summed RSS of the process tree, in MiB, and how it was taken."""

    peak_tree_rss_mib: float | None
    samples: int
    interval_s: float
    reason: str | None = None


class ProcessTreeMemory:
    """Sample the RSS of `pid` and all its descendants every `interval_s` seconds."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._peak = 0
        self._samples = 0
        try:
            self._root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._root = None
        self._sampler = PeriodicSampler(self._sample, interval_s)

    def _sample(self) -> None:
        if self._root is None:
            return
        total = 0
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return  # the job has exited
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        with self._lock:
            self._peak = max(self._peak, total)
            self._samples += 1 if total else 0

    def __enter__(self) -> ProcessTreeMemory:
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sampler.stop()

    @property
    def result(self) -> HostMemory:
        with self._lock:
            if not self._samples:
                return HostMemory(None, 0, self._interval_s, reason="the process exited before a sample was taken")
            return HostMemory(self._peak / MIB, self._samples, self._interval_s)
