"""GPU memory of one job, sampled through NVML from the parent process.

NVML gives instantaneous values only, so a background thread polls every 10-50 ms and
keeps the series: the job's own memory (its PID and its children's, from the compute
process list), the device's used memory, and energy, power and utilisation for the
energy tracker. The device's used memory before the job starts is the baseline.

The job's own figure is NVML's per-process memory where NVML gives one. Where it cannot (no
PID of the job listed: containers report host PIDs; the PID listed with no figure: containers
with recent drivers; a figure of 0, or one below what torch itself reserved), the job's figure
is the device's used memory minus the baseline, and the record says which and why: a missing
figure is never summed as 0 MiB.
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
PER_PROCESS = "NVML per-process used memory of the job and its children"
DEVICE_FALLBACK = "device used memory minus the baseline"
NOT_LISTED = "NVML listed none of the job's PIDs (in a container NVML reports host PIDs)"
NO_FIGURE = ("NVML listed the job's process without a memory figure (usedGpuMemory None, as in containers with "
             "recent drivers)")
ZERO_FIGURE = "NVML's per-process figure was 0 MiB"
CONTAINER_FALLBACK = f"{DEVICE_FALLBACK}: {NOT_LISTED}"
WHOLE_GPU = "the whole GPU the MIG slice is part of (other slices' work included)"


@dataclass(frozen=True)
class GpuSample:
    """One poll; None where NVML could not give the value."""

    unix: float
    device_used_bytes: int | None
    job_used_bytes: int | None  # None: NVML gave no figure for any PID of the job
    energy_mj: int | None
    power_mw: int | None
    util_pct: int | None
    job_listed: bool = False  # a PID of the job was in NVML's process list (with or without a figure)


@dataclass(frozen=True)
class GpuMemory:
    """Peak GPU memory of a job, with the scope of each figure and what went wrong."""

    device: dict[str, Any] | None
    baseline_used_mib: float | None
    peak_job_mib: float | None
    peak_job_scope: str | None
    peak_job_why: str | None  # why the device-level fallback was used (None: NVML's per-process figure)
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
        self._energy_handle: Any = None  # the whole GPU's handle: a MIG slice has no energy counter of its own
        self._device: dict[str, Any] | None = None
        self._pids: Callable[[], set[int]] = set
        self._lock = threading.Lock()
        self._sampler: PeriodicSampler | None = None
        self._energy_supported = True
        self._opened = False

    def open(self) -> None:
        """Initialise NVML and record the used memory of every device, each MIG instance included (a job
        on a slice is matched to the slice), before the job starts."""
        self.reason = nvml.init()
        if self.reason is not None:
            return
        self._opened = True
        try:
            for i in range(nvml.pynvml.nvmlDeviceGetCount()):
                handle = nvml.pynvml.nvmlDeviceGetHandleByIndex(i)
                for device in (handle, *nvml.mig_handles(handle)):
                    self._baseline(device)
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"baseline: {exc}")

    def _baseline(self, handle: Any) -> None:
        """One device's used memory now, by its UUID; a device NVML cannot read has no baseline (noted)."""
        try:
            uuid = nvml.normalise_uuid(nvml._text(nvml.pynvml.nvmlDeviceGetUUID(handle)))
            self._baselines[uuid] = nvml.pynvml.nvmlDeviceGetMemoryInfo(handle).used
        except Exception as exc:  # noqa: BLE001
            _note(self.errors, "baseline", exc)

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
        self._energy_handle, self._device["energy_scope"] = self._handle, "the job's GPU"
        if info.mig:
            try:
                self._energy_handle = nvml.pynvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self._handle)
                self._device["energy_scope"] = WHOLE_GPU
            except Exception as exc:  # noqa: BLE001 - then the slice's own counter, if it has one
                _note(self.errors, "MIG parent GPU", exc)
        self._pids = pids or (lambda: process_tree(pid))
        self._sampler = PeriodicSampler(self._sample, self.interval_s)
        self._sampler.start()

    def _sample(self) -> None:
        handle, errors, p = self._handle, self.errors, nvml.pynvml
        used = _optional(lambda: p.nvmlDeviceGetMemoryInfo(handle).used, errors, "memory info")
        procs = _optional(lambda: p.nvmlDeviceGetComputeRunningProcesses(handle), errors, "process list")
        job_bytes, listed = None, False
        if procs is not None:
            ours = self._pids()
            matched = [proc for proc in procs if proc.pid in ours]
            listed = bool(matched)
            figures = [int(proc.usedGpuMemory) for proc in matched if proc.usedGpuMemory is not None]
            if figures:  # a process NVML could not measure adds nothing, not 0
                job_bytes = sum(figures)
        energy = None
        if self._energy_supported:
            try:
                energy = int(p.nvmlDeviceGetTotalEnergyConsumption(self._energy_handle))
            except p.NVMLError_NotSupported:
                self._energy_supported = False
            except Exception as exc:  # noqa: BLE001
                _note(errors, "energy counter", exc)
        whole = self._energy_handle
        power = _optional(lambda: int(p.nvmlDeviceGetPowerUsage(whole)), errors, "power")
        util = _optional(lambda: int(p.nvmlDeviceGetUtilizationRates(whole).gpu), errors, "utilisation")
        sample = GpuSample(time.time(), used, job_bytes, energy, power, util, listed)
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

    def memory(self, torch_reserved_mib: float | None = None) -> GpuMemory:
        """Peaks over the samples taken so far. `torch_reserved_mib`, the job's own reserved peak,
        is a floor: NVML's per-process figure below it cannot be the job's whole use."""
        with self._lock:
            samples = list(self.samples)
        baseline = None
        if self._device is not None:
            baseline = self._baselines.get(nvml.normalise_uuid(self._device["uuid"]))
        busy = baseline is not None and baseline / MIB > self.busy_threshold_mib
        device_used = [s.device_used_bytes for s in samples if s.device_used_bytes is not None]
        per_process = max((s.job_used_bytes for s in samples if s.job_used_bytes is not None), default=None)
        why = _why_not_per_process(per_process, any(s.job_listed for s in samples), torch_reserved_mib)
        if why is None:
            peak_job, scope = per_process / MIB, PER_PROCESS  # type: ignore[operator]  # why is None: a figure
        elif device_used and baseline is not None:
            peak_job, scope = max(0, max(device_used) - baseline) / MIB, f"{DEVICE_FALLBACK}: {why}"
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
            peak_job_why=why if peak_job is not None else None,
            peak_device_used_mib=max(device_used) / MIB if device_used else None,
            busy_at_start=busy,
            samples=len(samples),
            interval_s=self.interval_s,
            errors=tuple(self.errors),
            reason=reason,
        )


def _why_not_per_process(peak_bytes: int | None, listed: bool, torch_reserved_mib: float | None) -> str | None:
    """Why NVML's per-process figure cannot be the job's memory (None: it can)."""
    if peak_bytes is None:
        return NO_FIGURE if listed else NOT_LISTED
    if peak_bytes == 0:
        return ZERO_FIGURE
    if torch_reserved_mib is not None and peak_bytes / MIB < torch_reserved_mib:
        return (f"NVML's per-process figure ({peak_bytes / MIB:,.0f} MiB) was below torch's own reserved peak "
                f"({torch_reserved_mib:,.0f} MiB)")
    return None
