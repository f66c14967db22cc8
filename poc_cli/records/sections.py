"""The sections of a stored record, typed: what the worker writes and every reader reads.

Each field carries its unit in its name (`_s`, `_mib`, `_j`, `bytes`, `_unix`); a count is a count.
A section a job never reached is empty, and each of its fields reads as None. Keys a later poc
adds pass through unchanged (`extra="allow"`), so an older reader never loses what it cannot show.
Numbers are `int | float`: a count stored as 3 reads back as 3, not 3.0, so what a reader prints
from a record is what the record holds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Num = int | float
Count = Annotated[int, Field(ge=0)]  # parameters, examples: a negative one is a damaged record

# Settings added after stores existed, at the value every job ran with before them: a job's id leaves
# them out at that value (`plan.identity`, `Allocation.to_dict`), so the jobs of an older store keep
# their ids, and a record written before them reads them at it (the sections' defaults below).
ADDED_LATER: dict[str, dict[str, Any]] = {
    "training": {"precision": "fp32", "gradient_checkpointing": False, "gradient_accumulation_steps": 1,
                 "quantization": "none", "gpus_per_job": 1},
    "data": {"encoding": "utf-8"},
    "allocation": {"off_budget": False, "frozen_parameters": 0},
}
_TRAINING, _DATA, _ALLOCATION = ADDED_LATER["training"], ADDED_LATER["data"], ADDED_LATER["allocation"]


class Section(BaseModel):
    """A part of a record; unknown keys are kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)


class DeclaredMetric(Section):
    """A metric as the task declared it: the first of a record's is its primary one."""

    name: str
    unit: str = "fraction"
    higher_is_better: bool = True
    per_example: bool = False


class TaskSection(Section):
    name: str
    metrics: list[DeclaredMetric]

    @field_validator("metrics")
    @classmethod
    def _one_at_least(cls, value: list[DeclaredMetric]) -> list[DeclaredMetric]:
        if not value:  # every reader takes the first as the primary metric
            raise ValueError("a task declares at least one metric (the first is its primary one); none is stored")
        return value

    @property
    def primary(self) -> DeclaredMetric:
        return self.metrics[0]


class TrainingSettings(Section):
    """The training settings the job ran with; those poc added later read as `ADDED_LATER` says."""
    epochs: Num | None = None
    steps: int | None = None
    batch_size: int | None = None
    eval_batch_size: int | None = None
    max_length: int | None = None
    warmup_ratio: Num | None = None
    weight_decay: Num | None = None
    scheduler: str | None = None
    max_grad_norm: Num | None = None
    device: str | None = None
    timeout_minutes: Num | None = None
    precision: str = _TRAINING["precision"]
    gradient_checkpointing: bool = _TRAINING["gradient_checkpointing"]
    gradient_accumulation_steps: int = _TRAINING["gradient_accumulation_steps"]
    quantization: str = _TRAINING["quantization"]
    gpus_per_job: int | str = _TRAINING["gpus_per_job"]


class DataSettings(Section):
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    horizon: int | None = None
    context_length: int | None = None
    season_length: int | None = None
    windows_per_series: int | None = None
    encoding: str = _DATA["encoding"]


class CostSettings(Section):
    gpu_hourly_price: Num | None = None
    currency: str = "USD"


class JobRecipe(Section):
    """The recipe as the job saw it (a trial's has the trial length). Its only copy in the record of
    the training settings, the data and the model."""

    name: str
    model: str | None = None
    task: str | None = None
    data: DataSettings = DataSettings()
    training: TrainingSettings = TrainingSettings()
    methods: list[dict[str, Any]] = []
    cost: CostSettings = CostSettings()

    def stored(self) -> dict[str, Any]:
        """The recipe as it was written (to validate as a `Recipe`)."""
        return self.model_dump(exclude_unset=True)


class MethodSetting(Section):
    """The method's resolved spec (its learning rate and, where searched, alpha ratio, set)."""

    method: str | None = None
    lr: Num | None = None
    alpha_ratio: Num | None = None


class AllocationSection(Section):
    """The method's place in the budget, as planned: its only copy in the record."""

    label: str | None = None
    method: str | None = None
    r: Num | None = None  # a rank, or for DoRA at a matched budget a fractional one
    settings: dict[str, Any] = {}
    adapter_parameters: Count | None = None
    head_parameters: Count | None = None
    total_parameters: Count | None = None
    budget: Count | None = None
    deviation: Num | None = None
    off_budget: bool = _ALLOCATION["off_budget"]
    frozen_parameters: int = _ALLOCATION["frozen_parameters"]


class JobSection(Section):
    """What determines the job's result, and so its id: the recipe, the data's hashes, the method's
    resolved setting and allocation, the seed and the stage (see `plan.job_identity`)."""

    recipe: JobRecipe
    data_sha256: list[str] = []
    method: MethodSetting = MethodSetting()
    allocation: AllocationSection = AllocationSection()
    seed: int | None = None
    stage: str = "run"


class Hardware(Section):
    platform: str | None = None
    cpu_count: int | None = None
    memory_total_mib: Num | None = None


class Environment(Section):
    packages: dict[str, str | None] = {}
    git_commit: str | None = None
    hardware: Hardware | None = None


class SourceFile(Section):
    path: str
    sha256: str
    bytes: int = 0


class Fitting(Section):
    """One split against max_length: its examples, how many were cut, how many left out."""

    examples: int = 0
    truncated: int = 0
    dropped: int = 0


class DataSection(Section):
    """The data as the job read it; sizes and counts by split name (train, validation, test)."""

    sources: list[SourceFile] = []
    sizes: dict[str, int] = {}
    labels: list[Any] = []  # a task without classes (forecasting, generation) has none
    class_counts: dict[str, dict[str, int]] = {}
    fitting: dict[str, Fitting] = {}

    @field_validator("labels", "class_counts", "fitting", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any, info: Any) -> Any:
        return ([] if info.field_name == "labels" else {}) if value is None else value


class ParameterCounts(Section):
    """Counted on the model as built (the planned counts are the allocation's)."""

    trainable_counted: Count | None = None
    trainable_effective: Count | None = None
    without_gradient: list[str] = []


class Predictions(Section):
    """A split's answers: whatever the task stores (labels, texts, forecasts), and per example the
    scores whose mean is a declared metric."""

    per_example: dict[str, list[Any]] = {}

    @field_validator("per_example", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    def as_dict(self) -> dict[str, Any]:
        """What the task wrote, for the task to read back (`Task.trivial`)."""
        return self.model_dump(exclude_unset=True)

    def answers(self) -> list[Any]:
        """The model's answers: predicted labels or generated texts."""
        return list(self.value("y_pred") or self.value("generated") or [])

    def truth(self) -> list[Any]:
        """The right answers: labels or reference texts."""
        return list(self.value("y_true") or self.value("reference") or [])

    def value(self, key: str) -> Any:
        """A task-specific list (`y_pred`, `generated` ...), or None."""
        return (self.model_extra or {}).get(key)


class Timing(Section):
    load_s: Num | None = None
    train_s: Num | None = None  # wall time of training, warm-up included (what a run costs)
    warmup_s: Num | None = None  # the first steps' one-off costs (schema 8; None: not kept apart)
    steady_train_s: Num | None = None  # train_s with the warm-up steps at the steady step time (what ratios compare)
    fit_s: Num | None = None  # a classical reference row: wall time of fitting every series (schema 8)
    fit_cpu_s: Num | None = None  # and its CPU time, summed over the processes that fitted
    train_cpu_s: Num | None = None
    train_started_unix: Num | None = None
    train_ended_unix: Num | None = None
    evaluate_s: Num | None = None
    total_s: Num | None = None
    cpu_s: Num | None = None


class Throughput(Section):
    examples_per_s: Num | None = None
    tokens_per_s: Num | None = None
    steps: int | None = None
    effective_batch_size: int | None = None
    examples: int | None = None
    tokens: int | None = None
    warmup_steps_excluded: int | None = None  # the first steps left out of the rates (and timed apart: warmup_s)


class Adapter(Section):
    kind: str | None = None
    path: str | None = None
    bytes: int | None = None


class Memory(Section):
    torch_peak_allocated_mib: Num | None = None
    torch_peak_reserved_mib: Num | None = None
    host_peak_rss_mib: Num | None = None
    host_tree_peak_rss_mib: Num | None = None


class GpuDevice(Section):
    name: str | None = None
    total_mib: Num | None = None


class Gpu(Section):
    device: GpuDevice | None = None
    peak_job_mib: Num | None = None
    peak_job_scope: str | None = None
    peak_job_why: str | None = None
    peak_device_used_mib: Num | None = None
    reason: str | None = None


class Energy(Section):
    energy_j: Num | None = None
    method: str | None = None  # how: the NVML energy counter, or power integrated over time
    scope: str | None = None  # where the figure covers more than the job's GPU (a MIG slice's whole GPU)
    reason: str | None = None


class Load(Section):
    """How busy the machine was while the job trained."""

    other_cores: Num | None = None
    loaded: bool = False


class Weights(Section):
    """The pretrained weights' fingerprint."""

    sha256: str | None = None
    files: int | None = None
    bytes: int | None = None
    hub_commit: str | None = None


class Placement(Section):
    slot: str | None = None
    host: str | None = None
    executor: str | None = None


class ParameterDtypes(Section):
    trainable: dict[str, int] = {}
    frozen: dict[str, int] = {}


class BatchNorm(Section):
    """BatchNorm under the job's method (see normalisation.py)."""

    policy: Literal["frozen", "trained"]
    layers: int


class Runtime(Section):
    """What really ran (schema 6)."""

    device: str | None = None
    device_name: str | None = None
    precision: str | None = None
    tf32: dict[str, bool] | None = None  # whether fp32 matmuls / convolutions ran in TF32 (GPU; schema 8)
    series_short: int | None = None  # a classical row: series under two seasons (fitted without seasonality)
    series_fell_back: list[str] | None = None  # a classical row: series its model refused (SeasonalNaive instead)
    parameter_dtypes: ParameterDtypes = ParameterDtypes()
    implementation: str | None = None
    batchnorm: BatchNorm | None = None  # the model's BatchNorm layers, as the job held them (issue 40)


class Length(Section):
    epochs: Num | None = None
    steps: int | None = None


class Point(Section):
    lr: Num
    alpha_ratio: Num | None = None


class RungScore(Section):
    """A halving search's trial at one rung: where it stopped and what it scored there."""

    steps: int | None = None
    job_id: str | None = None
    score: Num | None = None


class TrialRow(Point):
    """One grid point of a search: its status (`pruned`: a halving search stopped it at a rung) and
    full-length score, and for a halving search its score at each rung it reached."""

    job_id: str | None = None
    status: str
    score: Num | None = None
    error: str | None = None
    steps: int | None = None
    rungs: list[RungScore] = []
    added: bool = False  # a trial the search added beyond an end of its grid (`search.edge_steps`)


class EdgeSteps(Section):
    """How far a search went past its grid's ends: trials added, the recipe's limit, and whether the best
    learning rate still lay at an end when the limit was reached (then it may lie further out)."""

    added: int
    limit: int
    reached: bool


class SearchSelection(Section):
    """The setting chose by a learning-rate search on validation."""

    how: Literal["search"]
    metric: str
    higher_is_better: bool = True
    seed: int | None = None
    examples: dict[str, int] = {}
    trial_length: Length = Length()
    chosen: Point
    score: Num
    trials: list[TrialRow]
    strategy: str = "grid"
    rungs: list[int] = []  # a halving search's stops, in optimizer steps (the last is the full length)
    edge: EdgeSteps | None = None  # absent in records of searches that could not add trials


class FixedSelection(Section):
    """A setting not searched: the recipe's, the method's default, or an untrained reference's."""

    how: Literal["recipe", "default", "reference"]
    chosen: Point | None = None


Selection = SearchSelection | FixedSelection
SELECTION = Field(default=None, discriminator="how")
