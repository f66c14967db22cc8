"""The stored record of one job: what ran, on what, with what outcome and measurements.

Field names carry their units (`_s`, `_mib`, `_bytes`) so a number read back later needs
no guessing. Failed jobs have a record too: they are shown, never dropped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from poc_cli.records.upgrade import upgrade

# 2: stage, selection, the diverged status; 3: task (name, declared metrics), per-example scores;
# 4: load (other processes' CPU use while training), model (weights fingerprint), data.class_counts;
# 5: placement (executor, node, GPU pinning, threads);
# 6: runtime (what really ran: device, precision, the dtypes the parameters were loaded in and trained in,
#    what was upcast, which implementation computed the adapters), gpu.peak_job_why
SCHEMA_VERSION = 6


class Status(str, Enum):
    """How a job ended."""

    OK = "ok"
    FAILED = "failed"
    OOM = "oom"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    DIVERGED = "diverged"  # loss went non-finite or exploded: stopped early, final (a rerun would repeat it)


FINISHED = (Status.OK, Status.DIVERGED)  # what a rerun skips


class Stage(str, Enum):
    """Which stage of `poc run` a job belongs to."""

    TRIAL = "trial"  # a search trial: trains, scores on validation only, saves nothing
    RUN = "run"  # a seeded run at the method's chosen setting, scored on test


@dataclass
class Record:
    """One job's outcome. Measurement sections are empty dicts when the job did not get there."""

    job_id: str
    attempt: str
    recipe_name: str
    method: str
    method_kind: str
    seed: int
    status: Status
    started_at: str
    finished_at: str
    job: dict[str, Any]
    error: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    predictions: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)
    throughput: dict[str, Any] = field(default_factory=dict)
    loss_curve: list[float] = field(default_factory=list)
    adapter: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    gpu: dict[str, Any] = field(default_factory=dict)
    energy: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)  # how busy the machine was while training
    model: dict[str, Any] = field(default_factory=dict)  # fingerprint of the pretrained weights
    warnings: list[str] = field(default_factory=list)
    log_path: str | None = None
    stage: Stage = Stage.RUN
    selection: dict[str, Any] = field(default_factory=dict)  # how the run's setting was chosen
    task: dict[str, Any] = field(default_factory=dict)  # name and declared metrics (the first is primary)
    placement: dict[str, Any] = field(default_factory=dict)  # where it ran: executor, node, GPU, threads
    runtime: dict[str, Any] = field(default_factory=dict)  # what ran: device, dtypes, implementation
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        out["stage"] = self.stage.value
        return out


class StoredRecord(BaseModel):
    """A record read back: the fields compare and report rely on, checked before anything reads
    them (a damaged or foreign file is skipped with its reason, never a traceback). Other fields
    pass through as stored."""

    model_config = ConfigDict(extra="allow")

    job_id: str
    recipe_name: str
    method: str
    method_kind: str
    seed: StrictInt = Field(ge=0)
    status: Status
    finished_at: str
    job: dict[str, Any]
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    predictions: dict[str, Any] = Field(default_factory=dict)
    timing: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    schema_version: StrictInt

    @model_validator(mode="after")
    def _readable(self) -> StoredRecord:
        if self.schema_version > SCHEMA_VERSION:
            raise ValueError(f"written by a newer poc (record schema {self.schema_version}; this poc reads up to "
                             f"{SCHEMA_VERSION}): upgrade poc to read it")
        if self.status is Status.OK and not self.metrics.get("test"):
            raise ValueError("status ok but no test metrics")
        return self


def _scores_are_numbers(record: dict[str, Any]) -> None:
    """Every declared metric a split stores is a number (one stored as a string would be compared as
    text), and the primary one is finite: every mean, interval, ranking and chart is built on it. A
    secondary metric may honestly be infinite (the perplexity of a model whose loss overflowed)."""
    names = [m.get("name") for m in record["task"].get("metrics") or () if isinstance(m, dict)]
    for split, values in record["metrics"].items():
        for name in names:
            value = values.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"metrics.{split}.{name}: a score must be a number, not {type(value).__name__} "
                                 f"{str(value)[:20]!r}")
            if name == names[0] and not math.isfinite(value):
                raise ValueError(f"metrics.{split}.{name}: a score must be finite, not {value}")


def read_record(payload: object) -> dict[str, Any]:
    """A stored record as a dict in today's shape (`records.upgrade`), or ValueError with a one-line reason
    (the first field that is wrong)."""
    try:
        StoredRecord.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "record"
        raise ValueError(f"{where}: {first['msg']}") from None
    record = upgrade(payload)  # type: ignore[arg-type]  # validated: a dict with every field above
    _scores_are_numbers(record)
    return record
