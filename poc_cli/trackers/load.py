"""How busy the machine was while a job trained: the evidence that a timing is clean or not.

The same job can take four times longer while other work shares the machine, so a time or
cost compared across methods is only fair when each was measured on a quiet machine. This
tracker takes, over the training window, the CPU time every process on the machine used
(from the kernel's counters) minus this job's own (the job process and its parent, the poc
driver that samples it), and the 1-minute load average at both ends.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

import psutil

# Other processes using more than this many cores on average mark the timing as taken under load
# (the larger of half a core and a tenth of the machine).
MIN_OTHER_CORES = 0.5
OTHER_SHARE = 0.1


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent on work since boot (everything but idle and I/O wait)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _own_seconds() -> float:
    """CPU seconds of this process (with its finished children) and of its parent, poc's driver."""
    total = 0.0
    for pid in (os.getpid(), os.getppid()):
        try:
            t = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


@dataclass(frozen=True)
class MachineLoad:
    """Other processes' CPU use over a window, and whether it was enough to distort a timing."""

    seconds: float
    cpu_count: int
    own_cpu_s: float
    other_cpu_s: float
    load_avg_1m_start: float
    load_avg_1m_end: float

    @property
    def other_cores(self) -> float:
        """Cores other processes kept busy on average."""
        return self.other_cpu_s / self.seconds if self.seconds > 0 else 0.0

    @property
    def loaded(self) -> bool:
        return self.other_cores > max(MIN_OTHER_CORES, OTHER_SHARE * self.cpu_count)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "other_cores": self.other_cores, "loaded": self.loaded}


class LoadMeter:
    """`with LoadMeter() as meter: ...` then `meter.result`."""

    def __init__(self) -> None:
        self.result: MachineLoad | None = None

    def __enter__(self) -> LoadMeter:
        self._wall, self._busy, self._own = time.perf_counter(), _busy_seconds(), _own_seconds()
        self._avg = os.getloadavg()[0]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        own = _own_seconds() - self._own
        busy = _busy_seconds() - self._busy
        self.result = MachineLoad(seconds=time.perf_counter() - self._wall, cpu_count=psutil.cpu_count() or 1,
                                  own_cpu_s=own, other_cpu_s=max(0.0, busy - own),
                                  load_avg_1m_start=self._avg, load_avg_1m_end=os.getloadavg()[0])
