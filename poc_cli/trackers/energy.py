"""GPU energy, average power and utilisation over a time window (the training phase).

Energy is the difference of NVML's total-energy counter (mJ, Volta and newer; it updates
every 20-100 ms), interpolated at the window's ends. Where the counter is unsupported,
sampled power is integrated instead, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from poc_cli.trackers.gpu_memory import GpuSample


@dataclass(frozen=True)
class Energy:
    """Energy over a window, in joules, with the method used; None with a reason if unknown."""

    energy_j: float | None
    method: str | None
    window_s: float
    avg_power_w: float | None
    avg_gpu_util_pct: float | None
    reason: str | None = None


def _at(samples: list[tuple[float, float]], t: float) -> float | None:
    """Linear interpolation of a (time, value) series at t; None outside its range."""
    if not samples or t < samples[0][0] or t > samples[-1][0]:
        return None
    for (t0, v0), (t1, v1) in zip(samples, samples[1:]):
        if t0 <= t <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return samples[-1][1]


def _clip(series: list[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """The series inside [start, end], with interpolated end points."""
    inside = [(t, v) for t, v in series if start < t < end]
    first, last = _at(series, start), _at(series, end)
    if first is None or last is None:
        return []
    return [(start, first), *inside, (end, last)]


def _integral(points: list[tuple[float, float]]) -> float:
    return sum((t1 - t0) * (v0 + v1) / 2 for (t0, v0), (t1, v1) in zip(points, points[1:]))


def energy_over(samples: list[GpuSample], start_unix: float, end_unix: float) -> Energy:
    """Energy, mean power and mean utilisation of the device between two instants."""
    window = end_unix - start_unix
    power = _clip([(s.unix, s.power_mw / 1000) for s in samples if s.power_mw is not None], start_unix, end_unix)
    util = _clip([(s.unix, float(s.util_pct)) for s in samples if s.util_pct is not None], start_unix, end_unix)
    avg_power = _integral(power) / window if power and window > 0 else None
    avg_util = _integral(util) / window if util and window > 0 else None
    counter = [(s.unix, s.energy_mj / 1000) for s in samples if s.energy_mj is not None]
    begin, finish = _at(counter, start_unix), _at(counter, end_unix)
    if begin is not None and finish is not None:
        return Energy(finish - begin, "NVML total-energy counter", window, avg_power, avg_util)
    if power:
        return Energy(_integral(power), "integrated power samples (energy counter unavailable)", window,
                      avg_power, avg_util)
    return Energy(None, None, window, avg_power, avg_util,
                  reason="no energy counter or power samples covered the training phase")
