"""The job's own process: its entry point (`child_main`), which places it, ties its life to `poc run`'s,
runs the job (worker.py) and always leaves a record in the attempt's folder, whatever happened."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import socket
import sys
import threading
import time
import traceback
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import torch

from poc_cli.distributed import current, finish
from poc_cli.oom import is_out_of_memory
from poc_cli.paths import is_full, why
from poc_cli.plan import Job
from poc_cli.records.status import Status
from poc_cli.result import Record
from poc_cli.store import write_json_atomic
from poc_cli.train import Diverged
from poc_cli.worker import Attempt, base_record, execute, now

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_PARENT_S = 1.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


def _die_with_parent(parent: int) -> None:
    """No orphans: a job whose `poc run` (which measures it, times it out and holds the store's
    lock) is gone must stop too. The job's own parent is the fork server (or `poc run` itself
    where jobs are spawned): on Linux the kernel kills the job when that parent dies
    (PR_SET_PDEATHSIG), and a thread watches `poc run` itself everywhere."""
    server = os.getppid()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _release_fork_server()

    def watch() -> None:
        while os.getppid() == server and _alive(parent):
            time.sleep(WATCH_PARENT_S)
        os._exit(1)

    threading.Thread(target=watch, name="poc-parent-watch", daemon=True).start()
    if os.getppid() != server or not _alive(parent):  # gone before the watch began
        os._exit(1)


def _release_fork_server() -> None:
    """A forked job inherits the fork server's "a client is alive" pipe, and the server exits only
    once no client holds it. A job starts no processes through the server, so it lets go: then
    the server exits with `poc run`, and neither it nor its resource tracker outlives the run."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def _place(env: dict[str, str], threads: int | None, slot: str) -> dict[str, Any]:
    """Apply the executor's placement before anything touches CUDA or starts a thread pool, and
    say what this process got: CUDA reads CUDA_VISIBLE_DEVICES when first used, so a job pinned
    to one GPU sees only that one (as cuda:0) and NVML is asked about it by its UUID."""
    os.environ.update(env)
    if threads is not None:
        torch.set_num_threads(threads)
    return {"slot": slot, "host": socket.gethostname(), "pid": os.getpid(), "threads": torch.get_num_threads(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def child_main(job: Job, attempt: Attempt, events: Queue | None, parent: int, env: dict[str, str],
               threads: int | None, slot: str, rank: int = 0) -> None:
    """Entry point of the job's process (or of one rank of a job across processes): run the job, always
    leave a record in the attempt's folder. A rank of several that fails exits with 1, for the parent to
    stop the others."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    placement = _place(env, threads, slot)
    ranks = current()
    log = attempt.rank_log(rank)
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)

    def emit(**event: Any) -> None:
        if events is not None and (rank == 0 or event.get("event") == "device"):  # progress is rank 0's
            events.put({**event, "rank": rank})

    record = base_record(job, attempt=attempt.id, status=Status.FAILED, started_at=now(), log=log)
    record.placement = placement | ({"rank": rank} if ranks is not None else {})
    t0 = time.perf_counter()
    try:
        execute(job, record, adapter=attempt.adapter, emit=emit, ranks=ranks)
        record.status = Status.OK
    except Diverged as exc:
        record.status, record.error = Status.DIVERGED, str(exc)
    except Exception as exc:  # any failure of this job is recorded, never raised to the parent
        if is_out_of_memory(exc):  # torch's, Python's, or a CUDA library's failed allocation
            record.status, record.error = Status.OOM, _error_line(exc)
        else:
            record.status, record.error = Status.FAILED, _failure(exc)
        traceback.print_exc()
    finally:
        finish()
    _write(record, attempt.rank_record(rank), time.perf_counter() - t0)
    if ranks is not None and record.status is not Status.OK:
        sys.exit(1)


def _write(record: Record, path: Path, seconds: float) -> None:
    """The job's own figures of its process, then its record, written whole or not at all."""
    record.timing["total_s"] = seconds
    usage = resource.getrusage(resource.RUSAGE_SELF)
    record.timing["cpu_s"] = usage.ru_utime + usage.ru_stime
    # ru_maxrss is in KiB on Linux: the exact peak resident memory of this job's process.
    record.memory["host_peak_rss_mib"] = usage.ru_maxrss / 1024
    record.finished_at = now()
    try:
        write_json_atomic(path, record.to_dict())
    except OSError as error:  # the parent writes what it can and says why
        print(f"poc: this job's record could not be written ({why(error)})", file=sys.stderr)
        sys.exit(1)


def _failure(exc: Exception) -> str:
    """A job's failure in one line: a full disk says so (what helps is space, then a rerun)."""
    if is_full(exc):
        return f"{why(exc)} ({exc.filename or 'writing'}), then run again"
    return _error_line(exc)


def _error_line(exc: Exception) -> str:
    """`Type: first line of the message`."""
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}"
