"""Where poc writes, checked before it starts: a store or a report path that cannot be written is
one line (exit 2) before any job trains, not a traceback after an hour of training."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from poc_cli.errors import RecipeError


DISK_FULL = "the disk is full"


def why(error: OSError) -> str:
    """An OSError in a few words; a full disk says what helps."""
    if error.errno == errno.ENOSPC:
        return f"{DISK_FULL}: free some space"
    return error.strerror or str(error)


def _file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` (itself included) that is not a folder."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def _probe(folder: Path) -> None:
    """Make `folder` if missing and write a file in it (permission bits do not stop root; a write does)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder) as probe:
        probe.write(b"poc")
        probe.flush()
        os.fsync(probe.fileno())


def writable_folder(path: Path, option: str) -> None:
    """`path` is (or can be made) a folder that takes a new file; else a RecipeError naming `option`."""
    blocker = _file_above(path)
    if blocker is not None:
        where = "" if blocker == path else f" ({blocker} is a file)"
        raise RecipeError(f"{option}: {path} is not a folder{where}")
    try:
        _probe(path)
    except OSError as error:
        raise RecipeError(f"{option}: {path} cannot be written ({why(error)})") from None


def writable_file(path: Path, option: str) -> None:
    """`path` names a file poc can write (its folder is made if missing); else a RecipeError."""
    if str(path) in {"", "."} or path.is_dir():
        raise RecipeError(f"{option}: {path} is a folder; give a file name (e.g. report.html)")
    blocker = _file_above(path.parent)
    if blocker is not None:
        raise RecipeError(f"{option}: {path} cannot be written: {blocker} is a file, not a folder")
    try:
        _probe(path.parent)
    except OSError as error:
        raise RecipeError(f"{option}: {path} cannot be written ({why(error)})") from None
