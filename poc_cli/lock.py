"""One writer per recipe in a store: an fcntl lock held by `poc run` for its whole life.

Two runs of the same recipe on one store (two terminals, or a rerun while the first still
runs) used to overwrite each other's records. The kernel releases the lock when the holder
exits, however it exits, so a crashed or killed run never leaves the store locked; the
lock file only says who holds it (PID and command), for the message the second run prints.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from poc_cli.errors import PocError

LOCK_NAME = ".lock"


class StoreBusy(PocError):
    """Another run holds the recipe's lock."""


def _holder(fd: int) -> str:
    text = os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip()
    return text or "another process"


@contextmanager
def recipe_lock(folder: Path, *, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock of a recipe's folder in the store; StoreBusy names the holder unless `wait`,
    which blocks until it is free (after telling `on_wait` who holds it)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise StoreBusy(f"--store: {folder} is in use by {holder}; run again when it has finished, "
                                "or add --wait") from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"PID {os.getpid()} ({shlex.join(sys.argv)})\n".encode(), 0)
        except OSError:  # who holds it is a courtesy to the next run; the lock itself is held
            pass
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
