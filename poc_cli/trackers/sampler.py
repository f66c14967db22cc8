"""A background thread that calls a function every `interval_s`, sleeping in between."""

from __future__ import annotations

import threading
from collections.abc import Callable


class PeriodicSampler:
    """Call `sample()` every `interval_s` on a daemon thread until `stop()`.

    The thread sleeps on an Event between samples, so it costs nothing while waiting and
    stops at once. `sample` must not raise; trackers catch their own errors.
    """

    def __init__(self, sample: Callable[[], None], interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._sample = sample
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="poc-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread; takes one last sample so short jobs are still seen."""
        self._stop.set()
        self._thread.join()
        self._sample()
