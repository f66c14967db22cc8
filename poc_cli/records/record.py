"""A stored record, typed: the model every record is written through and read back as.

`read_record` upgrades a record of any older schema (`upgrade`), checks it and hands back a
`StoredRecord`, whose sections (`sections.py`) compare, report and the MLflow export read by
attribute. A damaged or foreign file fails with the first wrong field named, in one line, and is
skipped by its reader; never a traceback.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from poc_cli.records.sections import (
    SELECTION,
    Adapter,
    DataSection,
    Energy,
    Environment,
    Gpu,
    JobSection,
    Load,
    Memory,
    Num,
    ParameterCounts,
    Placement,
    Runtime,
    Section,
    Selection,
    TaskSection,
    Predictions,
    Throughput,
    Timing,
    Weights,
)
from poc_cli.records.distributed import Distributed
from poc_cli.records.serving import Serving
from poc_cli.records.status import Stage, Status
from poc_cli.records.upgrade import upgrade

# 2: stage, selection, the diverged status; 3: task (name, declared metrics), per-example scores;
# 4: load (other processes' CPU use while training), model (weights fingerprint), data.class_counts;
# 5: placement (executor, node, GPU pinning, threads);
# 6: runtime (what really ran: device, precision, the dtypes the parameters were loaded in and trained in,
#    what was upcast, which implementation computed the adapters), gpu.peak_job_why;
# 7: one copy of the training settings (job.recipe) and of the allocation (job.allocation): `parameters`
#    holds only what was counted on the built model
# 8: timing.warmup_s and steady_train_s (the first steps' one-off costs apart), runtime.tf32; under a mixed
#    precision a frozen base is loaded in the compute dtype (runtime.parameter_dtypes says so per record)
SCHEMA_VERSION = 8


class Scores(Section):
    """One split's scores: `n` examples, and each declared metric by its name."""

    n: int | None = None

    def get(self, metric: str) -> Num | None:
        """The score of `metric`, or None where the split does not hold it."""
        value = (self.model_extra or {}).get(metric)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def has(self, metric: str) -> bool:
        return self.get(metric) is not None


class StoredRecord(BaseModel):
    """One job's record as stored: its identity first (what a damaged file is checked for first),
    then its measured sections. A section the job never reached is empty."""

    model_config = ConfigDict(extra="allow", frozen=True)

    job_id: str
    recipe_name: str
    method: str
    method_kind: str
    seed: StrictInt = Field(ge=0)
    status: Status
    finished_at: str
    job: JobSection
    metrics: dict[str, Scores] = {}
    predictions: dict[str, Predictions] = {}
    timing: Timing = Timing()
    parameters: ParameterCounts = ParameterCounts()
    schema_version: StrictInt
    attempt: str | None = None
    started_at: str | None = None
    error: str | None = None
    stage: Stage  # a record from before stages is a seeded run (`upgrade`)
    task: TaskSection
    selection: Selection | None = SELECTION
    environment: Environment = Environment()
    data: DataSection = DataSection()
    throughput: Throughput = Throughput()
    adapter: Adapter = Adapter()
    memory: Memory = Memory()
    gpu: Gpu = Gpu()
    energy: Energy = Energy()
    load: Load | None = None
    model: Weights = Weights()
    placement: Placement | None = None
    runtime: Runtime | None = None
    serving: Serving | None = None  # absent in records written before issue 43
    distributed: Distributed | None = None  # a job across processes (issue 44); absent for one process
    loss_curve: list[Num | None] = []
    warnings: list[str] = []
    log_path: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _upgraded(cls, payload: Any) -> Any:
        """A record of an older schema in today's shape; an empty selection or load is none."""
        if not isinstance(payload, dict):
            return payload
        out = upgrade(payload)
        for name in ("selection", "load", "placement", "runtime", "serving", "distributed"):
            if out.get(name) == {}:
                out[name] = None
        return out

    @model_validator(mode="after")
    def _readable(self) -> StoredRecord:
        if self.schema_version > SCHEMA_VERSION:
            raise ValueError(f"schema_version: written by a newer poc (record schema {self.schema_version}; this poc reads up to "
                             f"{SCHEMA_VERSION}): upgrade poc to read it")
        if self.status is Status.OK and self.stage is Stage.RUN and not self.metrics.get("test"):
            raise ValueError("metrics.test: status ok but no test metrics")
        self._scores_are_numbers()
        self._one_score_per_example()
        return self

    def _one_score_per_example(self) -> None:
        """A split's per-example scores number its examples: the paired tests pair them example by example,
        and a list cut short would leave a difference blank with no reason given."""
        for split, predictions in self.predictions.items():
            n = self.metrics[split].n if split in self.metrics else None
            for name, scores in predictions.per_example.items():
                if n is not None and len(scores) != n:
                    raise ValueError(f"predictions.{split}.per_example.{name}: {len(scores)} scores for {n} "
                                     f"{split} examples (metrics.{split}.n)")

    def _scores_are_numbers(self) -> None:
        """Every declared metric a split stores is a number (one stored as a string would be compared as
        text), and the primary one is finite: every mean, interval, ranking and chart is built on it. A
        secondary metric may honestly be infinite (the perplexity of a model whose loss overflowed)."""
        names = [m.name for m in self.task.metrics]
        for split, values in self.metrics.items():
            for name in names:
                value = (values.model_extra or {}).get(name)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"metrics.{split}.{name}: a score must be a number, not "
                                     f"{type(value).__name__} {str(value)[:20]!r}")
                if name == names[0] and not math.isfinite(value):
                    raise ValueError(f"metrics.{split}.{name}: a score must be finite, not {value}")

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def test(self) -> Scores:
        """The test split's scores (empty where the job was not scored on test)."""
        return self.metrics.get("test") or Scores()

    @property
    def validation(self) -> Scores:
        """The validation split's scores (a search trial's, or a seeded run's where it has one)."""
        return self.metrics.get("validation") or Scores()

    @property
    def test_predictions(self) -> Predictions | None:
        return self.predictions.get("test")

    @property
    def built(self) -> bool:
        """The job got as far as building its model: its parameters were counted."""
        return self.parameters.trainable_counted is not None

    def stored(self) -> dict[str, Any]:
        """The record as JSON-able data, as it is written (what was not set is left out)."""
        return self.model_dump(mode="python", exclude_unset=True)


def read_record(payload: object) -> StoredRecord:
    """A stored record in today's shape, or ValueError with a one-line reason (the first field that
    is wrong)."""
    try:
        return StoredRecord.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # the record's own checks (`_readable`) name their field in the message
            raise ValueError(message if first["type"] == "value_error" else f"record: {message}") from None
        raise ValueError(f"{_field(payload, first['loc'])}: {message}") from None


def _field(payload: object, loc: tuple[int | str, ...]) -> str:
    """The path of the wrong field in the record as stored: pydantic's location, less the names it
    adds for the members of a union (`timing.train_s`, not `timing.train_s.int`)."""
    path, here = [], payload
    for part in loc:
        if isinstance(here, dict) and part in here:
            here = here[part]
        elif isinstance(here, list) and isinstance(part, int) and part < len(here):
            here = here[part]
        elif path and not isinstance(here, (dict, list)):
            break  # past the stored value: the rest names union members
        path.append(str(part))
    return ".".join(path)
