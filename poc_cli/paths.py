"""Where poc writes, checked before it starts: a store or a report path that cannot be written is
one line (exit 2) before any job trains, not a traceback after an hour of training. The checks
create nothing: a recipe that then fails to plan leaves no empty store behind."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, TypeGuard

from poc_cli.errors import RecipeError

DISK_FULL = "the disk is full"
NOT_OURS = "poc writes a new file or replaces a regular one, nothing else"


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


KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
         (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def kind(path: Path) -> str:
    """What is at `path`, in a few words ("a character device", "a named pipe", ...), following links."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "nothing readable"
    return next((name for test, name in KINDS if test(mode)), "a regular file" if stat.S_ISREG(mode) else "not a file")


def not_replaceable(path: Path) -> str | None:
    """Why writing `path` would replace something that is not poc's to replace (None: it is a regular file,
    or nothing yet). poc writes a file whole beside its place and renames it over the old one: over a
    device node (`/dev/null`, `/dev/full`) that replaces the device with a file, over a symbolic link it
    replaces the link, not what it points to. Only a regular file is ever replaced."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there yet (a file on the way is said elsewhere)
        return None
    except OSError as error:
        return f"{path} cannot be looked at ({why(error)})"
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in KINDS if test(mode)), "not a regular file")
    return f"{path} is {kind}; {NOT_OURS}"


class NotReplaceable(OSError):
    """A path poc was about to replace is not a regular file (`not_replaceable` says what it is); raised
    where a write finds it, an OSError so that every caller that says "could not be written" says it."""


def check_replaceable(*paths: Path) -> None:
    """Raise NotReplaceable for the first of `paths` that poc must not replace."""
    for path in paths:
        problem = not_replaceable(path)
        if problem is not None:
            raise NotReplaceable(problem)


def writable_file(path: Path, option: str) -> None:
    """`path` names a file poc can write (a new one, or a regular file it may replace, in a folder that can
    be made); else a RecipeError naming `option`."""
    if str(path) in {"", "."} or (path.is_dir() and not path.is_symlink()):
        raise RecipeError(f"{option}: {path} is a folder; give a file name (e.g. report.html)")
    problem = not_replaceable(path)
    if problem is not None:
        raise RecipeError(f"{option}: {problem}")
    _check_folder(path.parent, option, path)


def publish(target: Path, *parts: Any) -> Path:
    """Save each of `parts` (a model, its tokenizer or processor) into a folder beside `target` and
    rename it into place, so a crash leaves no half a model; another process that got there first wins."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        for part in parts:
            part.save_pretrained(tmp)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "config.json").is_file():  # else another process converted it first
            raise
    return target


def dir_bytes(path: Path) -> int:
    """Bytes of every file under `path` (a saved adapter or model folder, as it lies on disk)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
