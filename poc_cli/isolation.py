"""Run one job in a child process of its own, measured from outside, and return its record.

Every executor runs a job through `run_isolated`: the local one on this machine, the Ray one
inside a Ray worker on whichever node Ray chose. The child leaves its record in the attempt's
folder; when it cannot (killed, crashed, timed out, stopped by Ctrl-C) the parent builds one
with the status and the reason. Either way a record comes back, with the parent's measurements
(the process tree's memory, the GPU through NVML) added, and nothing here writes the store:
the driver of the run does, as its single writer.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue as queue_mod
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from poc_cli.plan import Job
from poc_cli.processes import job_context
from poc_cli.records.status import Status
from poc_cli.trackers.energy import energy_over
from poc_cli.trackers.gpu_memory import GpuMemory, GpuSample, GpuSampler
from poc_cli.trackers.host_memory import HostMemory, ProcessTreeMemory
from poc_cli.job_process import child_main
from poc_cli.worker import Attempt, failure_record, now

EventCallback = Callable[[Job, dict[str, Any]], None]
POLL_S = 0.1
INTERRUPTED = "interrupted by the user (Ctrl-C)"


@dataclass(frozen=True)
class Slot:
    """Where an executor places a job: a name the progress shows, the environment the job process
    starts with (CUDA_VISIBLE_DEVICES pins its GPU), and its share of the CPU threads."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    threads: int | None = None  # None: torch's default (the whole machine)


def _last_log_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _stop(process: mp.process.BaseProcess) -> None:
    """Terminate, then kill if the child does not exit promptly."""
    if process.is_alive():
        process.terminate()
        process.join(5)
    if process.is_alive():
        process.kill()
        process.join(5)


@dataclass(frozen=True)
class Measurements:
    """What the parent measured from outside the job process."""

    host: HostMemory
    gpu: GpuMemory
    samples: list[GpuSample]


def _gpu_section(gpu: GpuMemory, used_gpu: bool) -> dict[str, Any]:
    section = asdict(gpu)
    if section["reason"] is None and not used_gpu:
        section["reason"] = "the job did not run on a GPU (CPU device)"
    return section


def _energy_section(m: Measurements, timing: dict[str, Any]) -> dict[str, Any]:
    if m.gpu.reason is not None or not m.samples:
        return {"energy_j": None, "reason": m.gpu.reason or "no GPU samples"}
    if "train_started_unix" not in timing or "train_ended_unix" not in timing:
        return {"energy_j": None, "reason": "the job did not finish its training phase"}
    scope = (m.gpu.device or {}).get("energy_scope")
    return {**asdict(energy_over(m.samples, timing["train_started_unix"], timing["train_ended_unix"])), "scope": scope}


def _add_measurements(record: dict[str, Any], m: Measurements, used_gpu: bool) -> dict[str, Any]:
    """Merge the parent's measurements into a record (the child's, or the parent's own)."""
    record.setdefault("memory", {})
    record["memory"]["host_tree_peak_rss_mib"] = m.host.peak_tree_rss_mib
    record["memory"]["host_sampling"] = {"samples": m.host.samples, "interval_s": m.host.interval_s,
                                         "reason": m.host.reason}
    if record["memory"].get("host_peak_rss_mib") is None and m.host.peak_tree_rss_mib is not None:
        record["memory"]["host_peak_rss_mib"] = m.host.peak_tree_rss_mib
    record["gpu"] = _gpu_section(m.gpu, used_gpu)
    record["energy"] = _energy_section(m, record.get("timing", {}))
    if m.gpu.busy_at_start:
        record.setdefault("warnings", []).append(
            f"the GPU already had {m.gpu.baseline_used_mib:,.0f} MiB in use before the job started: "
            "device-level memory figures include other processes"
        )
    if m.gpu.errors:
        record.setdefault("warnings", []).append("NVML errors during the job: " + "; ".join(m.gpu.errors[:3]))
    return record


def _childs_record(attempt: Attempt) -> dict[str, Any] | None:
    """The record the child left for this attempt, or None (it wrote none, or not whole)."""
    try:
        record = json.loads(attempt.record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("attempt") == attempt.id else None


def _drop_if_empty(log: Path) -> None:
    """A job that could write nothing to its log (a full disk) leaves no 0-byte file behind."""
    try:
        if log.stat().st_size == 0:
            log.unlink()
    except OSError:
        pass


def _drain(events: Any, handle: Callable[[dict[str, Any]], None]) -> None:
    """Handle the events the child sent before it ended."""
    while True:
        try:
            handle(events.get_nowait())
        except (queue_mod.Empty, OSError, EOFError, ValueError):
            break


def _no_record(code: int | None, attempt: Attempt) -> str:
    """Why a job that was not stopped left no record: how its process ended, and its log's last line."""
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
    hint = " (SIGKILL: possibly the out-of-memory killer)" if code == -signal.SIGKILL else ""
    last = _last_log_line(attempt.log)
    return f"job process {how}{hint} before writing its record" + (f"; last log line: {last}" if last else "")


def run_isolated(job: Job, attempt: Attempt, *, slot: Slot, stop: threading.Event,
                 on_event: EventCallback | None = None) -> dict[str, Any]:
    """Run one job in a process of its own (see `processes`), measured from outside; return its
    record. `stop` set (Ctrl-C in the driver) stops the job and records it as interrupted."""
    attempt.folder.mkdir(parents=True, exist_ok=True)
    ctx = job_context()
    events = ctx.Queue()
    started = now()
    measure = job.recipe.measure
    interval_s = measure.sample_interval_ms / 1000
    gpu = GpuSampler(interval_s=interval_s, busy_threshold_mib=measure.busy_gpu_threshold_mib)
    gpu.open()  # before the child starts: the device's baseline
    process = ctx.Process(target=child_main, args=(job, attempt, events, os.getpid(), slot.env, slot.threads,
                                                   slot.name), name=f"poc-{job.id}")
    process.start()
    timeout_min = job.recipe.training.timeout_minutes
    deadline = time.monotonic() + timeout_min * 60 if timeout_min else None
    status_if_parent_writes, reason = Status.FAILED, None
    used_gpu = False

    def handle(event: dict[str, Any]) -> None:
        nonlocal used_gpu
        if event.get("event") == "device":
            used_gpu = True
            gpu.attach(process.pid, event["uuid"])
        if on_event is not None:
            on_event(job, event)

    host = ProcessTreeMemory(process.pid, interval_s)
    with host:
        while process.is_alive():
            try:
                handle(events.get(timeout=POLL_S))
            except queue_mod.Empty:
                pass
            if stop.is_set():
                _stop(process)
                status_if_parent_writes, reason = Status.INTERRUPTED, INTERRUPTED
                break
            if deadline is not None and time.monotonic() > deadline:
                _stop(process)
                status_if_parent_writes = Status.TIMEOUT
                reason = f"timed out after {timeout_min:g} min (training.timeout_minutes)"
                break
        process.join()
    _drain(events, handle)
    _drop_if_empty(attempt.log)
    gpu.stop()
    record = _childs_record(attempt) if reason is None else None
    if record is None:
        reason = reason or _no_record(process.exitcode, attempt)
        record = failure_record(job, attempt, status_if_parent_writes, reason, started_at=started).to_dict()
        shutil.rmtree(attempt.adapter, ignore_errors=True)  # a stopped job's adapter may be half-saved
    # torch's own reserved peak, where the job reported one, is a floor for NVML's per-process figure.
    reserved = (record.get("memory") or {}).get("torch_peak_reserved_mib")
    measured = Measurements(host.result, gpu.memory(torch_reserved_mib=reserved), gpu.samples)
    return _add_measurements(record, measured, used_gpu)
