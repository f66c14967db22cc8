"""How job processes are started: forked from one server that has imported torch, transformers and peft.

Every job runs in a fresh process of its own, so its peak memory, a crash or an out-of-memory
kill stays its own. Spawning each one from scratch pays the imports (about 6 s on a 2-core CPU)
per job; multiprocessing's fork server pays them once per `poc run`: it is started on the first
job, imports what `preload` names, and forks each job from that state. It must never touch
CUDA (see `forksafe`): a forked job initialises its GPU itself. The server exits when `poc run`
does. Where fork is not available (Windows), jobs are spawned.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib.util import find_spec
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from poc_cli.forksafe import NVML_CHECK

# transformers' scheduler module imports peft, and peft before 0.22 imports bitsandbytes where it is
# installed (0.22 imports it when it builds a model, in the job).
IMPORTS_BITSANDBYTES = ["transformers.optimization", "peft"]


def preload() -> list[str]:
    """What the job server imports before it forks jobs: the job's process (and so the worker), and peft
    where importing it cannot import bitsandbytes (which initialises CUDA); `forksafe` last, to note
    what that left."""
    heavy = [] if find_spec("bitsandbytes") is not None else IMPORTS_BITSANDBYTES
    return ["poc_cli.job_process", *heavy, "poc_cli.forksafe"]


def job_context() -> BaseContext:
    """The multiprocessing context jobs start in. torch asks NVML, not CUDA, whether a GPU is there,
    in the server and every job (the variable must be set before the server starts)."""
    os.environ.update(NVML_CHECK)
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(preload())  # only takes effect before the server's first start
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
    subprocess.run([sys.executable, "-c", "; ".join(f"import {m}" for m in preload())], check=True,
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


PROBE_TIMEOUT_S = 300


def _reply(connection: Connection, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    connection.send(function(*args))
    connection.close()


def forked(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)` (a module-level function, so it travels by name) in a job forked from the job
    server, starting the server if needed; RuntimeError where it sends nothing back (timed out, died)."""
    context = job_context()
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=_reply, args=(sending, function, args), name="poc-probe")
    process.start()
    sending.close()
    try:
        if not receiving.poll(PROBE_TIMEOUT_S):
            raise RuntimeError(f"the probe sent nothing within {PROBE_TIMEOUT_S} s")
        return receiving.recv()
    except EOFError:
        raise RuntimeError(f"the probe died (exit code {process.exitcode})") from None
    finally:
        process.join(5)


def probe_server() -> dict[str, bool]:
    """`forksafe.state` as a job forked from the job server sees it."""
    from poc_cli.forksafe import state

    return forked(state)
