"""GPU memory of one job, sampled through NVML from the parent process.

NVML gives instantaneous values only, so a background thread polls every 10-50 ms and
keeps the series: the job's own memory (its PID and its children's, from the compute
process list), the device's used memory, and energy, power and utilisation for the
energy tracker. The device's used memory before the job starts is the baseline. Where
NVML lists no PID of the job although the device fills up (containers report host PIDs),
the figure falls back to device-level memory minus the baseline and says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from poc_cli.trackers import nvml
from poc_cli.trackers.sampler import PeriodicSampler

MIB = 2**20
CONTAINER_FALLBACK = (
    "device used memory minus the baseline: NVML listed none of the job's PIDs "
    "(in a container NVML reports host PIDs)"
)


@dataclass(frozen=True)
class GpuSample:
    """One poll; None where NVML could not give the value."""

    unix: float
    device_used_bytes: int | None
    job_used_bytes: int | None  # None: no PID of the job in NVML's process list
    energy_mj: int | None
    power_mw: int | None
    util_pct: int | None


@dataclass(frozen=True)
class GpuMemory:
    """Peak GPU memory of a job, with the scope of each figure and what went wrong."""

    device: dict[str, Any] | None
    baseline_used_mib: float | None
    peak_job_mib: float | None
    peak_job_scope: str | None
    peak_device_used_mib: float | None
    busy_at_start: bool
    samples: int
    interval_s: float
    errors: tuple[str, ...] = ()
    reason: str | None = None


def process_tree(pid: int) -> set[int]:
    """PIDs of a process and all its descendants (empty once it has exited)."""
    try:
        root = psutil.Process(pid)
        return {pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return set()


def _note(errors: list[str], what: str, exc: BaseException) -> None:
    """Keep each distinct NVML failure once."""
    message = f"{what}: {exc}"
    if message not in errors:
        errors.append(message)


def _optional(call: Callable[[], Any], errors: list[str], what: str) -> Any:
    """Run one NVML query; on failure note the error and return None."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - any NVML failure is recorded, never raised
        _note(errors, what, exc)
        return None


class GpuSampler:
    """Poll NVML for one job. Use: `open()`, start the job, `attach(pid, uuid)`, `stop()`."""

    def __init__(self, *, interval_s: float = 0.05, busy_threshold_mib: float = 1024.0) -> None:
        self.interval_s = interval_s
        self.busy_threshold_mib = busy_threshold_mib
        self.reason: str | None = None
        self.samples: list[GpuSample] = []
        self.errors: list[str] = []
        self._baselines: dict[str, int] = {}
        self._handle: Any = None
        self._device: dict[str, Any] | None = None
        self._pids: Callable[[], set[int]] = set
        self._lock = threading.Lock()
        self._sampler: PeriodicSampler | None = None
        self._energy_supported = True
        self._opened = False

    def open(self) -> None:
        """Initialise NVML and record every device's used memory before the job starts."""
        self.reason = nvml.init()
        if self.reason is not None:
            return
        self._opened = True
        try:
            for i in range(nvml.pynvml.nvmlDeviceGetCount()):
                handle = nvml.pynvml.nvmlDeviceGetHandleByIndex(i)
                uuid = nvml.normalise_uuid(nvml._text(nvml.pynvml.nvmlDeviceGetUUID(handle)))
                self._baselines[uuid] = nvml.pynvml.nvmlDeviceGetMemoryInfo(handle).used
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"baseline: {exc}")

    def attach(self, pid: int, job_uuid: str | None, pids: Callable[[], set[int]] | None = None) -> None:
        """Start sampling the device the job runs on; `job_uuid` comes from torch in the job."""
        if self.reason is not None or self._sampler is not None:
            return
        try:
            self._handle, how = nvml.resolve_handle(job_uuid)
            info = nvml.describe_handle(self._handle, None)
            self._device = {"name": info.name, "uuid": info.uuid, "total_mib": info.total_mib, "mig": info.mig,
                            "matched_by": how}
        except Exception as exc:  # noqa: BLE001
            self.reason = f"cannot map the job's CUDA device to NVML: {exc}"
            return
        self._pids = pids or (lambda: process_tree(pid))
        self._sampler = PeriodicSampler(self._sample, self.interval_s)
        self._sampler.start()

    def _sample(self) -> None:
        handle, errors, p = self._handle, self.errors, nvml.pynvml
        used = _optional(lambda: p.nvmlDeviceGetMemoryInfo(handle).used, errors, "memory info")
        procs = _optional(lambda: p.nvmlDeviceGetComputeRunningProcesses(handle), errors, "process list")
        job_bytes = None
        if procs is not None:
            ours = self._pids()
            matched = [proc for proc in procs if proc.pid in ours]
            if matched:
                job_bytes = sum(int(proc.usedGpuMemory or 0) for proc in matched)
        energy = None
        if self._energy_supported:
            try:
                energy = int(p.nvmlDeviceGetTotalEnergyConsumption(handle))
            except p.NVMLError_NotSupported:
                self._energy_supported = False
            except Exception as exc:  # noqa: BLE001
                _note(errors, "energy counter", exc)
        power = _optional(lambda: int(p.nvmlDeviceGetPowerUsage(handle)), errors, "power")
        util = _optional(lambda: int(p.nvmlDeviceGetUtilizationRates(handle).gpu), errors, "utilisation")
        sample = GpuSample(time.time(), used, job_bytes, energy, power, util)
        with self._lock:
            self.samples.append(sample)

    @property
    def energy_supported(self) -> bool:
        """False once NVML said the total-energy counter is not supported on this device."""
        return self._energy_supported

    def stop(self) -> GpuMemory:
        """Stop sampling, release NVML, and summarise memory."""
        if self._sampler is not None:
            self._sampler.stop()
        if self._opened:
            nvml.shutdown()
        return self.memory()

    def memory(self) -> GpuMemory:
        """Peaks over the samples taken so far."""
        with self._lock:
            samples = list(self.samples)
        baseline = None
        if self._device is not None:
            baseline = self._baselines.get(nvml.normalise_uuid(self._device["uuid"]))
        busy = baseline is not None and baseline / MIB > self.busy_threshold_mib
        device_used = [s.device_used_bytes for s in samples if s.device_used_bytes is not None]
        job_used = [s.job_used_bytes for s in samples if s.job_used_bytes is not None]
        if job_used:
            peak_job, scope = max(job_used) / MIB, "NVML per-process used memory of the job and its children"
        elif device_used and baseline is not None:
            peak_job, scope = max(0, max(device_used) - baseline) / MIB, CONTAINER_FALLBACK
        else:
            peak_job, scope = None, None
        reason = self.reason
        if reason is None and not samples:
            reason = "no sample was taken"
        return GpuMemory(
            device=self._device,
            baseline_used_mib=baseline / MIB if baseline is not None else None,
            peak_job_mib=peak_job,
            peak_job_scope=scope,
            peak_device_used_mib=max(device_used) / MIB if device_used else None,
            busy_at_start=busy,
            samples=len(samples),
            interval_s=self.interval_s,
            errors=tuple(self.errors),
            reason=reason,
        )
