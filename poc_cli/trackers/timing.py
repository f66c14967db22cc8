"""Wall time and CPU time of a phase."""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class PhaseTime:
    """How long a phase took: wall clock, and CPU time of this process (all threads)."""

    seconds: float
    cpu_seconds: float
    started_unix: float
    ended_unix: float


class Stopwatch:
    """`with Stopwatch() as sw: ...` then `sw.result`; wall time from a monotonic clock."""

    def __init__(self) -> None:
        self.result: PhaseTime | None = None

    def __enter__(self) -> Stopwatch:
        self._unix = time.time()
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.result = PhaseTime(
            seconds=time.perf_counter() - self._wall,
            cpu_seconds=time.process_time() - self._cpu,
            started_unix=self._unix,
            ended_unix=time.time(),
        )
