"""The record of one job as the worker fills it in, section by section, and writes it.

Field names carry their units (`_s`, `_mib`, `_bytes`) so a number read back later needs
no guessing. Failed jobs have a record too: they are shown, never dropped. What is written goes
through the typed record that every reader reads (`records.record.StoredRecord`): a section of the
wrong shape fails the job's write, never a later reader.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from poc_cli.records.record import SCHEMA_VERSION, StoredRecord
from poc_cli.records.status import Stage, Status


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
    serving: dict[str, Any] = field(default_factory=dict)  # what the trained model costs to serve (issue 43)
    distributed: dict[str, Any] = field(default_factory=dict)  # a job across processes: its ranks (issue 44)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The record as it is stored, checked against the typed sections it will be read as (ValueError
        naming the field where a section has the wrong shape)."""
        out = asdict(self)
        out["status"] = self.status.value
        out["stage"] = self.stage.value
        StoredRecord.model_validate(out)
        return out
