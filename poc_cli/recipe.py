"""The YAML recipe as one validated tree.

Every model rejects unknown keys and names the allowed ones, so a typo in a recipe
written by someone else fails at once with the field that is wrong, instead of being
silently ignored and producing a comparison that is not the one intended.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from poc_cli.errors import RecipeError

# Per-method defaults, chosen from the learning-rate trials described in the README
# ("Where the defaults come from"). They matter more than anything else at PoC sizes.
DEFAULT_LR = {"lora": 5e-3, "randlora": 5e-4, "full": 1e-4}
DEFAULT_ALPHA_RATIO = {"lora": 2.0, "randlora": 20.0}
# Default search grids (`search: true`), spaced about 2x around those defaults; RandLoRA also
# tries both ends of its author's alpha range (2r and 20r), which shifts its best lr ~10x.
DEFAULT_GRID: dict[str, dict[str, tuple[float, ...]]] = {
    "lora": {"lr": (1e-3, 2e-3, 5e-3, 1e-2)},
    "randlora": {"lr": (2e-4, 5e-4, 1e-3, 2e-3), "alpha_ratio": (2.0, 20.0)},
    "full": {"lr": (2e-5, 5e-5, 1e-4, 2e-4)},
}


class Strict(BaseModel):
    """Base for every recipe node: immutable, unknown keys rejected with the allowed list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = sorted(cls.model_fields)
            unknown = sorted(str(k) for k in data if k not in cls.model_fields)
            if unknown:
                raise ValueError(f"unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")
        return data


class DataSpec(Strict):
    """Where the examples come from and how they are split.

    `train` is a file (jsonl, json, csv, tsv, parquet), a built-in corpus such as
    `builtin:bbc_news`, or for image tasks a folder with one sub-folder per class. Relative
    paths resolve against the current directory, so recipes are run from the project root;
    image paths inside a table resolve against the table's folder. Which column fields a
    task reads is the task's own declaration (`Task.data_fields`).
    """

    train: str
    validation: str | None = None
    test: str | None = None
    validation_fraction: float | None = Field(default=None, gt=0, lt=1)
    test_fraction: float | None = Field(default=None, gt=0, lt=1)
    split_seed: int = 0
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    image_column: str = "image"
    prompt_template: str | None = Field(default=None, min_length=1, max_length=500)  # image-text; see its task
    shots_per_class: PositiveInt | None = None  # few-shot: keep k training examples per class (seeded)
    prompt_column: str = "prompt"  # causal-lm: the instruction ...
    response_column: str = "response"  # ... and the answer the model learns to give
    messages_column: str | None = None  # causal-lm: chat messages instead; the last is the assistant's answer
    choices_column: str | None = None  # causal-lm: candidate answers, scored by log-likelihood
    max_train_examples: PositiveInt | None = None
    max_validation_examples: PositiveInt | None = None
    max_test_examples: PositiveInt | None = None

    @model_validator(mode="after")
    def _one_source_per_split(self) -> DataSpec:
        if self.validation is not None and self.validation_fraction is not None:
            raise ValueError("give either 'validation' (a file) or 'validation_fraction', not both")
        if self.test is not None and self.test_fraction is not None:
            raise ValueError("give either 'test' (a file) or 'test_fraction', not both")
        if self.test is None and self.test_fraction is None:
            raise ValueError("a test split is required: set 'test' (a file) or 'test_fraction'")
        return self


Grid = Annotated[list[PositiveFloat], Field(min_length=1, max_length=20)]


class LrGrid(Strict):
    """A method's search grid; a dimension left out takes the method's default grid."""

    lr: Grid | None = None

    @model_validator(mode="after")
    def _distinct(self) -> LrGrid:
        for key in type(self).model_fields:
            values = getattr(self, key)
            if values is not None and len(set(values)) != len(values):
                raise ValueError(f"{key}: the grid has repeated values {values}")
        return self


class RandLoraGrid(LrGrid):
    """RandLoRA's grid: learning rate and alpha_ratio (randlora_alpha = alpha_ratio * r)."""

    alpha_ratio: Grid | None = None


class _MethodBase(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    lr: PositiveFloat | None = None
    # With the top-level `search` on: absent or `true` = the method's default grid, a mapping =
    # that grid, `false` = not searched (the method keeps `lr`, else its default).
    search: LrGrid | Literal[False] | None = None

    @field_validator("search", mode="before")
    @classmethod
    def _true_is_default_grid(cls, value: Any) -> Any:
        return {} if value is True else value

    @property
    def label(self) -> str:
        """The name shown in tables: the user's `name`, else the method id."""
        return self.name or self.method  # type: ignore[attr-defined]

    @property
    def learning_rate(self) -> float:
        """The recipe's learning rate, else the method's documented default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]  # type: ignore[attr-defined]


class LoraSpec(_MethodBase):
    """LoRA: rank `r` is fitted to the budget unless given; lora_alpha = alpha_ratio * r."""

    method: Literal["lora"]
    r: PositiveInt | None = None
    alpha_ratio: PositiveFloat = DEFAULT_ALPHA_RATIO["lora"]
    dropout: float = Field(default=0.0, ge=0, lt=1)


class RandLoraSpec(_MethodBase):
    """RandLoRA: base rank `r` fitted to the budget unless given; randlora_alpha = alpha_ratio * r.

    `projection_prng_key` fixes the random bases; left empty they follow the job's seed,
    so seed-to-seed spread includes the choice of bases. `implementation: poc` (default)
    runs poc's faster forward and backward of the same function; `peft` runs peft's own.
    """

    method: Literal["randlora"]
    r: PositiveInt | None = None
    alpha_ratio: PositiveFloat = DEFAULT_ALPHA_RATIO["randlora"]
    sparse: bool = False
    very_sparse: bool = False
    dropout: float = Field(default=0.0, ge=0, lt=1)
    projection_prng_key: int | None = None
    implementation: Literal["poc", "peft"] = "poc"
    search: RandLoraGrid | Literal[False] | None = None

    @model_validator(mode="after")
    def _one_sparsity(self) -> RandLoraSpec:
        if self.sparse and self.very_sparse:
            raise ValueError("choose at most one of 'sparse' and 'very_sparse'")
        return self


class FullSpec(_MethodBase):
    """Full fine-tuning: every parameter trains; the accuracy ceiling and the cost reference."""

    method: Literal["full"]


class ReferenceSpec(Strict):
    """An untrained reference row that the plan adds for tasks that have one (not written in recipes)."""

    method: Literal["zero-shot", "untuned"] = "zero-shot"

    @property
    def label(self) -> str:
        return self.method

    @property
    def learning_rate(self) -> None:
        """Nothing trains."""
        return None


MethodSpec = Annotated[Union[LoraSpec, RandLoraSpec, FullSpec], Field(discriminator="method")]


class BudgetSpec(Strict):
    """The number of trainable adapter parameters every PEFT method is fitted to.

    Give it directly (`parameters`) or as what LoRA at rank `lora_rank` has on the
    targeted layers. The classification head is trained by every method and counted apart.
    """

    lora_rank: PositiveInt | None = None
    parameters: PositiveInt | None = None
    tolerance: float = Field(default=0.05, ge=0, lt=1)
    allow_deviation: bool = False

    @model_validator(mode="after")
    def _exactly_one_target(self) -> BudgetSpec:
        if (self.lora_rank is None) == (self.parameters is None):
            raise ValueError("give exactly one of 'lora_rank' and 'parameters'")
        return self


class TrainingSpec(Strict):
    """One training setting shared by every method, so that only the method differs."""

    epochs: PositiveInt | None = None
    steps: PositiveInt | None = None
    batch_size: PositiveInt = 32
    eval_batch_size: PositiveInt = 64
    max_length: int = Field(default=128, ge=8, le=8192)
    warmup_ratio: float = Field(default=0.06, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    max_grad_norm: PositiveFloat | None = 1.0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    timeout_minutes: PositiveFloat | None = None

    @model_validator(mode="after")
    def _one_length(self) -> TrainingSpec:
        if self.epochs is not None and self.steps is not None:
            raise ValueError("give either 'epochs' or 'steps', not both")
        return self

    @property
    def epochs_or_default(self) -> int:
        """Epochs to run when `steps` is not set (1 when neither is)."""
        return self.epochs or 1


class CostSpec(Strict):
    """Prices for the cost figures; without a GPU price the report uses a typical cloud price
    for the GPU model and marks it as an assumption."""

    gpu_hourly_price: PositiveFloat | None = None
    currency: str = Field(default="USD", min_length=1, max_length=8)
    electricity_price_per_kwh: float = Field(default=0.15, ge=0)
    target_train_examples: PositiveInt | None = None  # full-scale training the PoC stands for
    target_epochs: PositiveFloat | None = None

    @model_validator(mode="after")
    def _priced_in_its_currency(self) -> CostSpec:
        if self.currency != "USD" and self.gpu_hourly_price is None:
            raise ValueError(f"currency {self.currency!r} needs gpu_hourly_price in {self.currency} (the typical "
                             "cloud prices poc assumes without one are in USD)")
        return self


class BusinessSpec(Strict):
    """Stage 3 of a PoC: what errors cost and what automation saves, per month."""

    positive_class: str = Field(min_length=1)
    cost_missed: float = Field(ge=0)
    cost_false_alarm: float = Field(ge=0)
    monthly_items: PositiveInt
    minutes_per_item: float = Field(gt=0)
    hourly_rate: float = Field(ge=0)


class ReportSpec(Strict):
    """How the report decides (the reference method, the GPU memory available) and the time zone
    its date is written in (an IANA name such as Asia/Tokyo; default: the machine's)."""

    baseline: str = "lora"
    memory_limit_mib: PositiveFloat | None = None
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{value!r} is not a time zone name (e.g. Asia/Tokyo, UTC)") from None
        return value


class SearchSpec(Strict):
    """Stage 1 of a fair PoC: each method's learning rate chosen on validation data.

    Trials train as long as the seeded runs unless `epochs` or `steps` shorten them (a short
    schedule can favour a larger learning rate than the real one wants). They score on the
    validation split and never read the test split; without a validation split in `data`,
    they hold out `validation_fraction` of train (the seeded runs still train on all of it).
    """

    epochs: PositiveInt | None = None
    steps: PositiveInt | None = None
    metric: str | None = None  # a metric the task declares; default: its primary metric
    seed: int | None = None  # default: the recipe's first seed
    validation_fraction: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_length(self) -> SearchSpec:
        if self.epochs is not None and self.steps is not None:
            raise ValueError("give either 'epochs' or 'steps', not both")
        return self


class EvaluationSpec(Strict):
    """How generative tasks are scored on the test split (classification tasks ignore it)."""

    max_new_tokens: int = Field(default=32, ge=1, le=2048)  # greedy generation per test example
    forgetting_passages: int = Field(default=200, ge=0, le=5000)  # general-text sample (BBC News); 0: skip


class MeasureSpec(Strict):
    """How measurements are sampled; not part of a job's identity."""

    sample_interval_ms: int = Field(default=50, ge=10, le=1000)
    busy_gpu_threshold_mib: float = Field(default=1024.0, ge=0)


class Recipe(Strict):
    """A whole PoC: one model, one dataset, several methods at one budget, several seeds."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    model: str = Field(min_length=1)
    task: str = "text-classification"  # a key of poc_cli.tasks.TASKS
    data: DataSpec
    methods: list[MethodSpec] = Field(min_length=1)
    budget: BudgetSpec = BudgetSpec(lora_rank=8)
    training: TrainingSpec = TrainingSpec()
    seeds: list[int] = Field(default=[0], min_length=1)
    target_modules: list[str] | None = Field(default=None, min_length=1)
    measure: MeasureSpec = MeasureSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    cost: CostSpec = CostSpec()
    business: BusinessSpec | None = None
    report: ReportSpec = ReportSpec()
    search: SearchSpec | None = None

    @field_validator("search", mode="before")
    @classmethod
    def _search_switch(cls, value: Any) -> Any:
        """`search: true` runs the default search, `false` none."""
        if value is True:
            return {}
        return None if value is False else value

    @model_validator(mode="after")
    def _task_fits(self) -> Recipe:
        """The task exists, the data fields set are ones it reads, and the search metric is one it declares."""
        from poc_cli.tasks import TASKS, get_task  # the tasks import this module

        if self.task not in TASKS:
            raise ValueError(f"task: unknown task {self.task!r}; available: {', '.join(TASKS)}")
        task = get_task(self.task, self.data)
        every = {f for t in TASKS.values() for f in t.data_fields}
        given = {f for f in self.data.model_fields_set if getattr(self.data, f) != DataSpec.model_fields[f].default}
        for field in sorted((every - task.data_fields) & given):
            users = ", ".join(t.name for t in TASKS.values() if field in t.data_fields)
            raise ValueError(f"data.{field}: not read by task {self.task} (only by {users})")
        task.check_spec()
        if not task.labelled:
            if self.data.shots_per_class is not None:
                raise ValueError(f"data.shots_per_class: task {self.task} has no classes to draw shots from")
            if self.business is not None:
                raise ValueError(f"business: detection and false-alarm rates need classes; task {self.task} has none")
        names = [m.name for m in task.metrics]
        if self.search is not None and self.search.metric is not None and self.search.metric not in names:
            raise ValueError(f"search.metric: {self.search.metric!r} is not a metric of task {self.task}; "
                             f"use one of {', '.join(names)}")
        return self

    def make_task(self):  # noqa: ANN201 - poc_cli.tasks.Task (imported lazily: the tasks import this module)
        """The recipe's task, set up for its data section."""
        from poc_cli.tasks import get_task

        return get_task(self.task, self.data, self.evaluation)

    @property
    def search_metric(self) -> str:
        """The validation metric the search chooses by: the recipe's, else the task's primary."""
        assert self.search is not None
        return self.search.metric or self.make_task().primary.name

    @model_validator(mode="after")
    def _search_consistent(self) -> Recipe:
        for i, m in enumerate(self.methods):
            if self.search is None:
                if m.search:
                    raise ValueError(f"methods.{i}.search: a grid needs the top-level 'search' (true or a mapping)")
                continue
            if m.search is not False and m.lr is not None and (m.search is None or m.search.lr is None):
                raise ValueError(f"methods.{i}.lr: fixed while 'search' is on; remove it, give the grid in "
                                 f"methods.{i}.search.lr, or set methods.{i}.search: false")
            grid_alpha = getattr(m.search, "alpha_ratio", None) if m.search else None
            if grid_alpha is not None and "alpha_ratio" in m.model_fields_set:
                raise ValueError(f"methods.{i}.alpha_ratio: fixed while methods.{i}.search.alpha_ratio is a grid; "
                                 "give one or the other")
        if self.search is not None:
            has_validation = self.data.validation is not None or self.data.validation_fraction is not None
            if has_validation and self.search.validation_fraction is not None:
                raise ValueError("search.validation_fraction: the data already has a validation split; remove it")
        return self

    @property
    def searched(self) -> list[int]:
        """Indices of the methods whose setting a search chooses."""
        if self.search is None:
            return []
        return [i for i, m in enumerate(self.methods) if m.search is not False]

    @model_validator(mode="after")
    def _unique_names(self) -> Recipe:
        labels = [m.label for m in self.methods]
        for label in labels:
            if labels.count(label) > 1:
                raise ValueError(f"two methods are named {label!r}; give each a distinct 'name'")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        if self.report.baseline not in labels and self.report.baseline != "lora":
            raise ValueError(f"report.baseline {self.report.baseline!r} is not a method of this recipe: {labels}")
        return self


def _format_error(path: Path, err: ValidationError) -> str:
    """One line: file, dotted field, what is wrong, the value given."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
    # Pydantic names the union member in the location ("methods.0.lora.r"); drop it.
    parts = [p for p in loc.split(".") if p not in {"lora", "randlora", "full"}]
    field = ".".join(parts) or "recipe"
    msg = first["msg"].removeprefix("Value error, ")
    extra = ""
    if first["type"] not in {"value_error", "missing", "union_tag_invalid"} and "input" in first:
        extra = f" (got {first['input']!r})"
    more = len(err.errors()) - 1
    tail = f" [+{more} more]" if more else ""
    if field == "recipe" and re.match(r"[a-z_][\w.]*: ", msg):  # a cross-field check names its field itself
        return f"{path}: {msg}{extra}{tail}"
    return f"{path}: {field}: {msg}{extra}{tail}"


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe; any problem is a RecipeError naming the field."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise RecipeError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not a UTF-8 text file") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping with keys name, model, data, methods, ...")
    try:
        return Recipe.model_validate(raw)
    except ValidationError as err:
        raise RecipeError(_format_error(path, err)) from None
