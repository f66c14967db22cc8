"""The run store: one JSON record per job, written atomically, read back into pandas.

Layout: <store>/<recipe-slug>/<job-id>.json, with the job's log beside it
(<job-id>.log) and PEFT adapters under <store>/<recipe-slug>/adapters/<job-id>/. Search
trials live apart, in <store>/<recipe-slug>/trials/, so that nothing reading the seeded
runs (compare, report) can mistake a trial for one; so do the load profiles of `poc profile`,
in <store>/<recipe-slug>/profiles/, one file per profile (never overwritten).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poc_cli.errors import PocError
from poc_cli.paths import NOT_OURS, NotReplaceable, check_replaceable
from poc_cli.records.flat import declared, flat
from poc_cli.records.status import FINISHED, Stage
from poc_cli.records.record import StoredRecord, read_record
from poc_cli.result import Record

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_STORE = Path("results")


def recipe_slug(name: str) -> str:
    """A folder name for a recipe: safe characters only, plus a hash when any were replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "recipe"
    if safe != name:
        safe += "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return safe


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """A record as JSON, written atomically."""
    write_text_atomic(path, json.dumps(payload, indent=1, ensure_ascii=False, allow_nan=True))


def write_text_atomic(path: Path, content: str) -> None:
    """Write UTF-8 text as `write_atomic` writes bytes."""
    write_atomic(path, content.encode("utf-8"))


def write_atomic(path: Path, content: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file. Only a
    regular file (or nothing) is ever replaced: anything else at `path` is left untouched (NotReplaceable)."""
    check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; records are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Store:
    """A results folder."""

    def __init__(self, root: Path | str = DEFAULT_STORE) -> None:
        self.root = Path(root)

    def recipe_dir(self, recipe_name: str) -> Path:
        return self.root / recipe_slug(recipe_name)

    def job_dir(self, recipe_name: str, stage: Stage = Stage.RUN) -> Path:
        folder = self.recipe_dir(recipe_name)
        return folder / "trials" if stage is Stage.TRIAL else folder

    def record_path(self, recipe_name: str, job_id: str, stage: Stage = Stage.RUN) -> Path:
        return self.job_dir(recipe_name, stage) / f"{job_id}.json"

    def log_path(self, recipe_name: str, job_id: str, stage: Stage = Stage.RUN) -> Path:
        return self.job_dir(recipe_name, stage) / f"{job_id}.log"

    def adapter_dir(self, recipe_name: str, job_id: str) -> Path:
        return self.recipe_dir(recipe_name) / "adapters" / job_id

    def attempts_dir(self, recipe_name: str) -> Path:
        """Where running jobs leave their record and adapter for the driver to commit; whatever is
        there when a run takes the recipe's lock is left over from a run that died."""
        return self.recipe_dir(recipe_name) / ".attempts"

    def commit(self, record: dict[str, Any], *, adapter: Path | None = None, log: Path | None = None) -> Path:
        """The driver's one write per job: the adapter folder and the log the job left (on the
        store's disk) moved into place, then the record, atomically. A record in the store
        therefore always has its adapter beside it."""
        stage = Stage(record.get("stage", Stage.RUN.value))
        name, job_id = record["recipe_name"], record["job_id"]
        # Nothing moves unless all three places are poc's (nothing there, or a regular file; an adapter's
        # folder may be a folder): a link planted in the store is left as it is, and no half is committed.
        check_replaceable(self.record_path(name, job_id, stage), self.log_path(name, job_id, stage))
        target = self.adapter_dir(name, job_id)
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise NotReplaceable(f"{target} is {'a symbolic link' if target.is_symlink() else 'not a folder'}; "
                                 f"{NOT_OURS}")
        if adapter is not None and adapter.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(adapter, target)
            record.setdefault("adapter", {})["path"] = str(target)
        record["log_path"] = str(self.log_path(name, job_id, stage))  # where the job's log is, wherever it ran
        if log is not None and log.is_file():
            os.replace(log, record["log_path"])
        path = self.record_path(name, job_id, stage)
        write_json_atomic(path, record)
        return path

    def write(self, record: Record) -> Path:
        """Store a record atomically, replacing an earlier attempt of the same job."""
        return self.commit(record.to_dict())

    def read(self, recipe_name: str, job_id: str, stage: Stage = Stage.RUN) -> dict[str, Any] | None:
        """The stored record of a job, or None if there is none (or it is unreadable)."""
        return _read_json(self.record_path(recipe_name, job_id, stage))

    def is_done(self, recipe_name: str, job_id: str, stage: Stage = Stage.RUN) -> bool:
        """A job is done when its record says ok or diverged (final); anything else runs again."""
        record = self.read(recipe_name, job_id, stage)
        return record is not None and record.get("status") in {s.value for s in FINISHED}

    def profile_dir(self, recipe_name: str) -> Path:
        return self.recipe_dir(recipe_name) / "profiles"

    def write_profile(self, profile: dict[str, Any]) -> Path:
        """Store a load profile atomically under a name of its own: its time, then a random suffix,
        so that profiles made at the same second by two commands never replace each other."""
        stamp = profile["created_at"].replace("-", "").replace(":", "")
        path = self.profile_dir(profile["recipe_name"]) / f"{stamp}-{os.urandom(3).hex()}.json"
        write_json_atomic(path, profile)
        return path

    def latest_profile(self, recipe_name: str) -> dict[str, Any] | None:
        """The newest readable profile of a recipe (a damaged file is passed over), or None."""
        for path in sorted(self.profile_dir(recipe_name).glob("*.json"), reverse=True):
            found = _read_json(path)
            if isinstance(found, dict) and found.get("kind") == "profile" and isinstance(found.get("points"), list):
                return found | {"path": str(path)}
        return None

    def scan(self) -> Scan:
        """Every record of a seeded run in the store (trials excluded), in a stable order, and every
        file that could not be read as one, with the reason."""
        records, skipped = [], []
        for path in sorted(self.root.glob("*/*.json")):
            try:
                records.append(read_record(_load(path)))
            except ValueError as reason:
                skipped.append(Skipped(path, str(reason)))
        return Scan(records, skipped)

    def records(self) -> Iterator[StoredRecord]:
        """Every valid record of a seeded run in the store (see `scan` for the rest)."""
        yield from self.scan().records

    def trial_records(self, recipe_name: str) -> Iterator[StoredRecord]:
        """Every readable record of the recipe's search trials (what the PoC also spent)."""
        for path in sorted(self.job_dir(recipe_name, Stage.TRIAL).glob("*.json")):
            try:
                yield read_record(_load(path))
            except ValueError:
                continue  # a damaged trial costs nothing the report can show


@dataclass(frozen=True)
class Skipped:
    """A file in the store that is not a readable record, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Scan:
    records: list[StoredRecord]
    skipped: list[Skipped]


MAX_RECORD_BYTES = 1 << 30  # a record with a million test predictions is some hundreds of MB


def _load(path: Path) -> object:
    """A file's JSON, or ValueError saying in a few words why it is not JSON. Only a regular file is
    read: a named pipe dropped in the store would block the read for ever, a device never end."""
    try:
        if not path.is_file():
            raise ValueError("not a regular file (a named pipe, a device, or a link to one)")
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise ValueError(f"{path.stat().st_size:,} bytes: larger than any record poc writes")
        raw = path.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot be read ({error.strerror or error})") from None
    if not raw.strip():
        raise ValueError("empty file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    if text.startswith("\ufeff"):
        raise ValueError("starts with a byte-order mark (poc never writes one): edited by another program")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at line {error.lineno}), e.g. cut short") from None


def _read_json(path: Path) -> dict[str, Any] | None:
    """A job's stored JSON for the launcher (is it done?), or None when it cannot be read as JSON."""
    try:
        return _load(path)  # type: ignore[return-value]
    except ValueError:
        return None


# `load_frame`'s columns, then each declared metric on test by its name.
FRAME = ("recipe", "method", "method_kind", "seed", "job_id", "status", "error", "settings", "lr", "chosen_by",
         "trainable_parameters", "effective_parameters", "adapter_parameters", "budget_parameters", "metric",
         "score")
FRAME_AFTER = ("train_s", "examples_per_s", "host_peak_rss_mib", "adapter_bytes")


def load_frame(root: Path | str = DEFAULT_STORE) -> pd.DataFrame:
    """One row per stored seeded run: identity, status, parameters, test metrics, time, memory
    (`records.flat`)."""
    import pandas as pd  # only here: the command line reads the store without it

    store = Store(root)
    if not store.root.is_dir():
        raise PocError(f"store not found: {store.root}")
    return pd.DataFrame([flat(r, FRAME) | declared(r) | flat(r, FRAME_AFTER) for r in store.records()])
