"""Run one job in a child process of its own, measured from outside, and return its record.

Every executor runs a job through `run_isolated`: the local one on this machine, the Ray one
inside a Ray worker on whichever node Ray chose. The child leaves its record in the attempt's
folder; when it cannot (killed, crashed, timed out, stopped by Ctrl-C) the parent builds one
with the status and the reason. Either way a record comes back, with the parent's measurements
(the process tree's memory, the GPU through NVML) added, and nothing here writes the store:
the driver of the run does, as its single writer.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from poc_cli.distributed import free_port, rank_env
from poc_cli.plan import Job
from poc_cli.processes import job_context
from poc_cli.rank_records import across_ranks, add_rank_measurements, how_it_ended, rank_figure, read_record
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


@dataclass
class _Rank:
    """One process of the job (the only one, or one rank of a job across processes), measured from outside."""

    rank: int
    process: mp.process.BaseProcess
    gpu: GpuSampler
    host: ProcessTreeMemory | None = None
    used_gpu: bool = False


def _start_ranks(job: Job, attempt: Attempt, slot: Slot, events: Any, hold: ExitStack) -> list[_Rank]:
    """The job's processes, started: one, or one per rank with torchrun's environment (`distributed`), the
    slot's threads shared between them. Each GPU sampler opens before its process starts (the baseline);
    `hold` stops each host-memory sampler when the job is over."""
    ctx, world, interval_s = job_context(), job.gpus, job.recipe.measure.sample_interval_ms / 1000
    port = free_port() if world > 1 else 0
    threads = slot.threads if world == 1 else max(1, (slot.threads or os.cpu_count() or 1) // world)
    ranks = []
    for rank in range(world):
        env = {**slot.env, **(rank_env(rank, world, port) if world > 1 else {})}
        gpu = GpuSampler(interval_s=interval_s, busy_threshold_mib=job.recipe.measure.busy_gpu_threshold_mib)
        gpu.open()
        name = f"poc-{job.id}" + (f"-rank{rank}" if world > 1 else "")
        ranks.append(_Rank(rank, ctx.Process(target=child_main, name=name, args=(
            job, attempt, events, os.getpid(), env, threads, slot.name, rank)), gpu))
    for rank in ranks:
        rank.process.start()
        rank.host = hold.enter_context(ProcessTreeMemory(rank.process.pid, interval_s))
    return ranks


def _ended_badly(ranks: list[_Rank]) -> bool:
    """Whether a rank of a job across processes has ended with an error while others still run."""
    return len(ranks) > 1 and any(not r.process.is_alive() and r.process.exitcode != 0 for r in ranks) \
        and any(r.process.is_alive() for r in ranks)


def run_isolated(job: Job, attempt: Attempt, *, slot: Slot, stop: threading.Event,
                 on_event: EventCallback | None = None) -> dict[str, Any]:
    """Run one job in a process of its own (see `processes`), or in one per rank for a job across GPUs,
    measured from outside; return its record. `stop` set (Ctrl-C in the driver) stops the job and records
    it as interrupted; a rank that ends with an error stops the others, and the record names it."""
    attempt.folder.mkdir(parents=True, exist_ok=True)
    events = job_context().Queue()
    started = now()
    timeout_min = job.recipe.training.timeout_minutes
    deadline = time.monotonic() + timeout_min * 60 if timeout_min else None
    status_if_parent_writes, reason = Status.FAILED, None
    with ExitStack() as hold:
        ranks = _start_ranks(job, attempt, slot, events, hold)

        def handle(event: dict[str, Any]) -> None:
            if event.get("event") == "device":
                rank = ranks[event.get("rank", 0)]
                rank.used_gpu = True
                rank.gpu.attach(rank.process.pid, event["uuid"])
            if on_event is not None and (event.get("event") == "device" or event.get("rank", 0) == 0):
                on_event(job, event)

        while any(r.process.is_alive() for r in ranks):
            try:
                handle(events.get(timeout=POLL_S))
            except queue_mod.Empty:
                pass
            if stop.is_set():
                status_if_parent_writes, reason = Status.INTERRUPTED, INTERRUPTED
            elif deadline is not None and time.monotonic() > deadline:
                status_if_parent_writes = Status.TIMEOUT
                reason = f"timed out after {timeout_min:g} min (training.timeout_minutes)"
            if reason is not None or _ended_badly(ranks):
                for rank in ranks:
                    _stop(rank.process)
                break
        for rank in ranks:
            rank.process.join()
    _drain(events, handle)
    _drop_if_empty(attempt.log)
    for rank in ranks:
        rank.gpu.stop()
    record = read_record(attempt.record, attempt.id) if reason is None else None
    if len(ranks) > 1 and reason is None:
        record = across_ranks(job, record, attempt, [r.process.exitcode for r in ranks], started)
    if record is None:
        reason = reason or how_it_ended(ranks[0].process.exitcode, attempt.log)
        record = failure_record(job, attempt, status_if_parent_writes, reason, started_at=started).to_dict()
        shutil.rmtree(attempt.adapter, ignore_errors=True)  # a stopped job's adapter may be half-saved
    return _measured(record, ranks)


def _measured(record: dict[str, Any], ranks: list[_Rank]) -> dict[str, Any]:
    """The record with the parent's measurements of each process added (`_add_measurements`; each rank's
    own, with their maximum and sum, where the job ran across processes)."""
    found = []
    for rank in ranks:
        # torch's own reserved peak, where the rank reported one, is a floor for NVML's per-process figure.
        reserved = rank_figure(record, rank.rank, "torch_peak_reserved_mib")
        found.append(Measurements(rank.host.result, rank.gpu.memory(torch_reserved_mib=reserved),  # type: ignore[union-attr]
                                  rank.gpu.samples))
    record = _add_measurements(record, found[0], ranks[0].used_gpu)
    if len(ranks) > 1:
        add_rank_measurements(record, [(m.host, _gpu_section(m.gpu, r.used_gpu), _energy_section(m, record.get("timing", {})))
                                       for m, r in zip(found, ranks)])
    return record
