"""Run each job in a child process of its own and make sure every job ends with a record.

The child writes its own record. When it cannot (killed, crashed, timed out, or the user
pressed Ctrl-C) the parent writes one with the status and the reason, so a failed job is
stored and shown, and a rerun of the recipe runs it again.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from poc_cli.errors import PocError
from poc_cli.paths import DISK_FULL, is_full, why
from poc_cli.plan import Job, Plan
from poc_cli.processes import job_context
from poc_cli.result import Stage, Status
from poc_cli.search import Choice, NoChoice, choose
from poc_cli.store import Store, write_json_atomic
from poc_cli.trackers.energy import energy_over
from poc_cli.trackers.gpu_memory import GpuMemory, GpuSample, GpuSampler
from poc_cli.trackers.host_memory import HostMemory, ProcessTreeMemory
from poc_cli.worker import base_record, child_main, now

EventCallback = Callable[[Job, dict[str, Any]], None]
POLL_S = 0.1


@dataclass(frozen=True)
class Outcome:
    """How one job of a run ended."""

    job: Job
    status: Status
    skipped: bool
    error: str | None = None
    disk_full: bool = False  # the store's disk filled up: the jobs after this one would fail too


class DiskFull(PocError):
    """The store's disk filled up during a job; the run stops (every later job would fail the same way)."""


def _last_log_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _drain(events: Any, job: Job, on_event: EventCallback | None) -> None:
    while True:
        try:
            event = events.get_nowait()
        except (queue_mod.Empty, OSError, EOFError, ValueError):
            return
        if on_event is not None:
            on_event(job, event)


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
    return asdict(energy_over(m.samples, timing["train_started_unix"], timing["train_ended_unix"]))


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


def run_isolated(job: Job, *, store: Store, on_event: EventCallback | None = None) -> Outcome:
    """Run one job in a process of its own (see `processes`), measured from outside; returns its
    stored status."""
    ctx = job_context()
    events = ctx.Queue()
    attempt = uuid.uuid4().hex
    started = now()
    measure = job.recipe.measure
    interval_s = measure.sample_interval_ms / 1000
    gpu = GpuSampler(interval_s=interval_s, busy_threshold_mib=measure.busy_gpu_threshold_mib)
    gpu.open()  # before the child starts: the device's baseline
    process = ctx.Process(target=child_main, args=(job, str(store.root), attempt, events, os.getpid()),
                          name=f"poc-{job.id}")
    # The child inherits "ignore SIGINT" from its very first instruction (the fork server, started
    # by the first job, inherits it and passes it on), so Ctrl-C in the terminal reaches only the
    # parent, which stops the child and records it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process.start()
    finally:
        signal.signal(signal.SIGINT, previous)
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
    try:
        with host:
            while process.is_alive():
                try:
                    handle(events.get(timeout=POLL_S))
                except queue_mod.Empty:
                    pass
                if deadline is not None and time.monotonic() > deadline:
                    _stop(process)
                    status_if_parent_writes = Status.TIMEOUT
                    reason = f"timed out after {timeout_min:g} min (training.timeout_minutes)"
                    break
            process.join()
    except KeyboardInterrupt:
        _stop(process)
        measured = Measurements(host.result, gpu.stop(), gpu.samples)
        with contextlib.suppress(OSError):  # a full disk: without a record the rerun runs the job anyway
            _write_parent_record(job, store, attempt, started, Status.INTERRUPTED, "interrupted by the user (Ctrl-C)",
                                 measured, used_gpu)
        raise
    _drain(events, job, on_event)
    _drop_if_empty(store.log_path(job.recipe.name, job.id, job.stage))
    measured = Measurements(host.result, gpu.stop(), gpu.samples)
    stored = store.read(job.recipe.name, job.id, job.stage)
    if reason is None and stored is not None and stored.get("attempt") == attempt:
        error = stored.get("error")
        try:
            write_json_atomic(store.record_path(job.recipe.name, job.id, job.stage),
                              _add_measurements(stored, measured, used_gpu))
        except OSError as failure:  # the child's record stays, without the parent's measurements
            return Outcome(job=job, status=Status(stored["status"]), skipped=False, disk_full=is_full(failure),
                           error=(error + "; " if error else "") + f"the memory figures were not added ({why(failure)})")
        return Outcome(job=job, status=Status(stored["status"]), skipped=False, error=error,
                       disk_full=bool(error and DISK_FULL in error))
    if reason is None:
        code = process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        hint = " (SIGKILL: possibly the out-of-memory killer)" if code == -signal.SIGKILL else ""
        last = _last_log_line(store.log_path(job.recipe.name, job.id, job.stage))
        reason = f"job process {how}{hint} before writing its record" + (f"; last log line: {last}" if last else "")
    try:
        _write_parent_record(job, store, attempt, started, status_if_parent_writes, reason, measured, used_gpu)
    except OSError as failure:
        return Outcome(job=job, status=status_if_parent_writes, skipped=False, disk_full=is_full(failure),
                       error=f"{reason}; no record could be written ({why(failure)})")
    # The child's last words say whether its disk was full (it could not write its own record).
    return Outcome(job=job, status=status_if_parent_writes, skipped=False, error=reason, disk_full=DISK_FULL in reason)


def _drop_if_empty(log: Path) -> None:
    """A job that could write nothing to its log (a full disk) leaves no 0-byte file behind."""
    try:
        if log.stat().st_size == 0:
            log.unlink()
    except OSError:
        pass


def _write_parent_record(job: Job, store: Store, attempt: str, started: str, status: Status, error: str,
                         measured: Measurements, used_gpu: bool) -> None:
    record = base_record(job, attempt=attempt, status=status, started_at=started, store=store)
    record.error = error
    record.finished_at = now()
    payload = _add_measurements(record.to_dict(), measured, used_gpu)
    write_json_atomic(store.record_path(job.recipe.name, job.id, job.stage), payload)


@dataclass(frozen=True)
class RunResult:
    """What `poc run` did: the trials, the seeded runs, and the methods held back without a setting."""

    trials: list[Outcome]
    chosen: dict[int, Choice]  # method index -> its searched setting
    runs: list[Outcome]
    held: dict[str, str]  # method -> why its seeded runs did not start

    @property
    def ok(self) -> bool:
        """Every seeded run finished ok and no method was held back (diverged trials are fine)."""
        return not self.held and all(o.status is Status.OK for o in self.runs)


def _run_or_skip(job: Job, store: Store, on_event: EventCallback | None) -> Outcome:
    if store.is_done(job.recipe.name, job.id, job.stage):
        status = Status(store.read(job.recipe.name, job.id, job.stage)["status"])  # type: ignore[index]
        return Outcome(job=job, status=status, skipped=True)
    return run_isolated(job, store=store, on_event=on_event)


def choices(plan: Plan, store: Store) -> tuple[dict[int, Choice], dict[str, str]]:
    """Each searched method's chosen setting from its stored trials, or why there is none."""
    chosen: dict[int, Choice] = {}
    held: dict[str, str] = {}
    for index, points in plan.trials.items():
        label = plan.allocations[index].label
        stored = [(point, job.id, store.read(job.recipe.name, job.id, Stage.TRIAL)) for point, job in points]
        try:
            chosen[index] = choose(plan.recipe, label, stored)
        except NoChoice as reason:
            held[label] = str(reason)
    return chosen, held


def run_jobs(
    jobs: list[Job],
    *,
    store: Store,
    on_event: EventCallback | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run each job not already finished, in order; a failed job never stops the others, except
    that a full disk stops the run (DiskFull): the next job could not write anything either."""
    outcomes = []
    for job in jobs:
        outcome = _run_or_skip(job, store, on_event)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
        if outcome.disk_full:
            raise DiskFull(f"--store: the disk holding {store.root} is full; free some space and run the same "
                           "command again (it resumes where this run stopped)")
    return outcomes


def run_plan(
    plan: Plan,
    *,
    store: Store,
    on_event: EventCallback | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> RunResult:
    """Stage 1, the search trials; stage 2, the seeded runs at each method's chosen setting.

    Ctrl-C (KeyboardInterrupt) stops the run after recording the running job as interrupted.
    """
    trials = run_jobs(plan.trial_jobs, store=store, on_event=on_event, on_outcome=on_outcome)
    chosen, held = choices(plan, store)
    runs = run_jobs(plan.run_jobs(chosen), store=store, on_event=on_event, on_outcome=on_outcome)
    return RunResult(trials=trials, chosen=chosen, runs=runs, held=held)
