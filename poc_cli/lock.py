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
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from poc_cli.errors import PocError

LOCK_NAME = ".lock"


class LockError(PocError):
    """The recipe's lock cannot be taken: held by another run (`StoreBusy`), or its file is not one poc
    may write."""


class StoreBusy(LockError):
    """Another run holds the recipe's lock."""


def _holder(fd: int) -> str:
    text = os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip()
    return text or "another process"


def _open(path: Path) -> int:
    """The lock file, opened to write the holder into: never through a symbolic link (it would truncate
    whatever the link names, as root /etc/passwd as readily as the lock) and never a device or pipe."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as error:
        raise LockError(f"--store: the lock file {path} cannot be opened ({error.strerror or error}; a symbolic "
                       "link there is refused): remove it and run again") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LockError(f"--store: the lock file {path} is not a regular file: remove it and run again")
    return fd


@contextmanager
def recipe_lock(folder: Path, *, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock of a recipe's folder in the store; StoreBusy names the holder unless `wait`,
    which blocks until it is free (after telling `on_wait` who holds it)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = _open(folder / LOCK_NAME)
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
