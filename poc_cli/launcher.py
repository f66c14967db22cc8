"""Run each job in a spawned child process and make sure every job ends with a record.

The child writes its own record. When it cannot (killed, crashed, timed out, or the user
pressed Ctrl-C) the parent writes one with the status and the reason, so a failed job is
stored and shown, and a rerun of the recipe runs it again.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poc_cli.plan import Job, Plan
from poc_cli.result import Status
from poc_cli.store import Store
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


def run_isolated(job: Job, *, store: Store, on_event: EventCallback | None = None) -> Outcome:
    """Run one job in a spawned process; returns its status as stored."""
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    attempt = uuid.uuid4().hex
    started = now()
    process = ctx.Process(target=child_main, args=(job, str(store.root), attempt, events), name=f"poc-{job.id}")
    # The child inherits "ignore SIGINT" from its very first instruction, so Ctrl-C in the
    # terminal reaches only the parent, which stops the child and records it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process.start()
    finally:
        signal.signal(signal.SIGINT, previous)
    timeout_min = job.recipe.training.timeout_minutes
    deadline = time.monotonic() + timeout_min * 60 if timeout_min else None
    status_if_parent_writes, reason = Status.FAILED, None
    try:
        while process.is_alive():
            try:
                event = events.get(timeout=POLL_S)
            except queue_mod.Empty:
                event = None
            if event is not None and on_event is not None:
                on_event(job, event)
            if deadline is not None and time.monotonic() > deadline:
                _stop(process)
                status_if_parent_writes = Status.TIMEOUT
                reason = f"timed out after {timeout_min:g} min (training.timeout_minutes)"
                break
        process.join()
    except KeyboardInterrupt:
        _stop(process)
        _write_parent_record(job, store, attempt, started, Status.INTERRUPTED, "interrupted by the user (Ctrl-C)")
        raise
    _drain(events, job, on_event)
    stored = store.read(job.recipe.name, job.id)
    if reason is None and stored is not None and stored.get("attempt") == attempt:
        return Outcome(job=job, status=Status(stored["status"]), skipped=False, error=stored.get("error"))
    if reason is None:
        code = process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        hint = " (SIGKILL: possibly the out-of-memory killer)" if code == -signal.SIGKILL else ""
        last = _last_log_line(store.log_path(job.recipe.name, job.id))
        reason = f"job process {how}{hint} before writing its record" + (f"; last log line: {last}" if last else "")
    _write_parent_record(job, store, attempt, started, status_if_parent_writes, reason)
    return Outcome(job=job, status=status_if_parent_writes, skipped=False, error=reason)


def _write_parent_record(job: Job, store: Store, attempt: str, started: str, status: Status, error: str) -> None:
    record = base_record(job, attempt=attempt, status=status, started_at=started, store=store)
    record.error = error
    record.finished_at = now()
    store.write(record)


def run_plan(
    plan: Plan,
    *,
    store: Store,
    on_event: EventCallback | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run every job not already done; a failed job never stops the others.

    Ctrl-C (KeyboardInterrupt) stops the run after recording the running job as interrupted.
    """
    outcomes = []
    for job in plan.jobs:
        if store.is_done(job.recipe.name, job.id):
            outcome = Outcome(job=job, status=Status.OK, skipped=True)
        else:
            outcome = run_isolated(job, store=store, on_event=on_event)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes
