"""Where poc writes, checked before it starts: a store or a report path that cannot be written is
one line (exit 2) before any job trains, not a traceback after an hour of training. The checks
create nothing: a recipe that then fails to plan leaves no empty store behind."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import TypeGuard

from poc_cli.errors import RecipeError


DISK_FULL = "the disk is full"


def is_full(error: BaseException) -> TypeGuard[OSError]:
    """Whether `error` is a full disk (the one failure after which every later write fails too)."""
    return isinstance(error, OSError) and error.errno == errno.ENOSPC


def why(error: OSError) -> str:
    """An OSError in a few words; a full disk says what helps."""
    if is_full(error):
        return f"{DISK_FULL}: free some space"
    return error.strerror or str(error)


def _nearest(path: Path) -> Path:
    """`path` itself or its nearest existing ancestor (what a folder to be made will be made in)."""
    return next((candidate for candidate in (path, *path.parents) if candidate.exists()), Path("."))


def _probe(folder: Path) -> None:
    """Write a file in `folder`, which exists, and remove it: permission bits do not stop root, and a
    read-only or full disk shows only on a write."""
    with tempfile.TemporaryFile(dir=folder) as probe:
        probe.write(b"poc")
        probe.flush()
        os.fsync(probe.fileno())


def _check_folder(path: Path, option: str, what: Path) -> None:
    """`path` is, or can be made, a folder `what` can be written to; nothing is created."""
    existing = _nearest(path)
    if not existing.is_dir():
        where = "" if existing == path else f" ({existing} is a file)"
        if what == path:
            raise RecipeError(f"{option}: {path} is not a folder{where}")
        raise RecipeError(f"{option}: {what} cannot be written: {existing} is a file, not a folder")
    try:
        _probe(existing)
    except OSError as error:
        raise RecipeError(f"{option}: {what} cannot be written ({why(error)})") from None


def writable_folder(path: Path, option: str) -> None:
    """`path` is (or can be made) a folder that takes a new file; else a RecipeError naming `option`."""
    _check_folder(path, option, path)


def writable_file(path: Path, option: str) -> None:
    """`path` names a file poc can write (its folder can be made); else a RecipeError naming `option`."""
    if str(path) in {"", "."} or path.is_dir():
        raise RecipeError(f"{option}: {path} is a folder; give a file name (e.g. report.html)")
    _check_folder(path.parent, option, path)
