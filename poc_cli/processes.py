"""How job processes are started: forked from one server that has imported torch, transformers and peft.

Every job runs in a fresh process of its own, so its peak memory, a crash or an out-of-memory
kill stays its own. Spawning each one from scratch pays the imports (about 6 s on a 2-core CPU)
per job; multiprocessing's fork server pays them once per `poc run`: it is started on the first
job, imports `poc_cli.worker`, and forks each job from that state (it never touches CUDA, so a
forked job initialises its GPU itself). The server exits when `poc run` does. Where fork is not
available (Windows), jobs are spawned.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.context import BaseContext

PRELOAD = ["poc_cli.worker"]


def job_context() -> BaseContext:
    """The multiprocessing context jobs start in."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # only takes effect before the server's first start
    return context


def start_server() -> BaseContext:
    """Start the fork server now, with Ctrl-C ignored: every job forked from it inherits "ignore
    SIGINT" from its first instruction, so Ctrl-C in the terminal reaches only `poc run`, which
    stops the jobs and records them. Only the main thread may change signal handlers: executors
    call this before their threads start jobs."""
    context = job_context()
    if context.get_start_method() != "forkserver":
        return context
    from multiprocessing import forkserver

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        forkserver.ensure_running()
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    return context


def _nothing() -> None:
    """A job that does nothing, to time how long starting one takes."""


def start_seconds() -> tuple[float, float]:
    """Seconds a `poc run` pays to start its fork server (a fresh interpreter importing what it
    preloads: what a spawned job pays each time) and to start each job from it (timed on an
    empty job, once a server is up)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "; ".join(f"import {m}" for m in PRELOAD)], check=True,
                   capture_output=True)
    server_s = time.perf_counter() - t0
    context = job_context()
    times = []
    for _ in range(2):  # the first may start this process's own server
        t0 = time.perf_counter()
        process = context.Process(target=_nothing, name="poc-start-probe")
        process.start()
        process.join()
        times.append(time.perf_counter() - t0)
    return server_s, times[-1]
