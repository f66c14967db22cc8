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

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from poc_cli.business_spec import BusinessBlock
from poc_cli.errors import RecipeError, clip
from poc_cli.paths import kind
from poc_cli.yaml_file import check_shape, read_yaml
from poc_cli.methods import METHODS, RECIPE_SPECS
from poc_cli.specs import Amount, BatchSize, Epochs, Examples, GpusPerJob, Number, Rank, Seed, Steps, Strict
from poc_cli.text_encoding import text_encoding_problem

DEVICE = re.compile(r"auto|cpu|cuda|cuda:[0-9]{1,3}")
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
    validation_fraction: Number | None = Field(default=None, gt=0, lt=1)
    test_fraction: Number | None = Field(default=None, gt=0, lt=1)
    split_seed: Seed = 0
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    image_column: str = "image"
    image_size: Annotated[int, Field(strict=True, ge=8, le=4096)] | None = None  # image-classification: square side
    prompt_template: str | None = Field(default=None, min_length=1, max_length=500)  # image-text; see its task
    shots_per_class: Examples | None = None  # few-shot: keep k training examples per class (seeded)
    prompt_column: str = "prompt"  # causal-lm: the instruction ...
    response_column: str = "response"  # ... and the answer the model learns to give
    messages_column: str | None = None  # causal-lm: chat messages instead; the last is the assistant's answer
    choices_column: str | None = None  # causal-lm: candidate answers, scored by log-likelihood
    # forecasting: a long table, one row per (series, time); see tasks/forecasting.py
    series_column: str = "series_id"
    time_column: str = "t"
    value_column: str = "value"
    horizon: Annotated[int, Field(strict=True, ge=1, le=10_000)] | None = None  # points forecast
    context_length: Annotated[int, Field(strict=True, ge=1, le=100_000)] | None = None  # points the model reads
    season_length: Annotated[int, Field(strict=True, ge=1, le=10_000)] | None = None  # 12 monthly, 7 daily
    windows_per_series: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 8  # training windows drawn per series
    drop_short_series: bool = False  # drop (and count) series too short to forecast, instead of an error
    max_train_examples: Examples | None = None
    max_validation_examples: Examples | None = None
    max_test_examples: Examples | None = None
    # The text files' encoding: UTF-8 (a byte-order mark or not); cp932 for Japanese Excel's "CSV"; any codec.
    encoding: str = Field(default="utf-8", min_length=1, max_length=40)

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        problem = text_encoding_problem(value)
        if problem is not None:
            raise ValueError(f"{problem}; e.g. utf-8, cp932, shift_jis, euc_jp, utf-16, latin-1")
        return value

    @model_validator(mode="after")
    def _one_source_per_split(self) -> DataSpec:
        if self.validation is not None and self.validation_fraction is not None:
            raise ValueError("give either 'validation' (a file) or 'validation_fraction', not both")
        if self.test is not None and self.test_fraction is not None:
            raise ValueError("give either 'test' (a file) or 'test_fraction', not both")
        return self


# A method's entry is the spec its own module declares (methods/*.py), told apart by its `method`.
MethodSpec = Annotated[Union[RECIPE_SPECS], Field(discriminator="method")]  # type: ignore[valid-type]


class BudgetSpec(Strict):
    """The number of trainable adapter parameters every PEFT method is fitted to.

    Give it directly (`parameters`) or as what LoRA at rank `lora_rank` has on the
    targeted layers. The classification head is trained by every method and counted apart.
    """

    lora_rank: Rank | None = None
    parameters: Annotated[int, Field(strict=True, ge=1, le=10**12)] | None = None
    tolerance: Number = Field(default=0.05, ge=0, lt=1)
    allow_deviation: bool = False

    @model_validator(mode="after")
    def _exactly_one_target(self) -> BudgetSpec:
        if (self.lora_rank is None) == (self.parameters is None):
            raise ValueError("give exactly one of 'lora_rank' and 'parameters'")
        return self


class TrainingSpec(Strict):
    """One training setting shared by every method, so that only the method differs."""

    epochs: Epochs | None = None
    steps: Steps | None = None
    batch_size: BatchSize = 32
    eval_batch_size: BatchSize = 64
    max_length: int = Field(default=128, ge=8, le=8192, strict=True)  # and at most the model's limit (the plan)
    warmup_ratio: Number = Field(default=0.06, ge=0, lt=1)
    weight_decay: Number = Field(default=0.0, ge=0, le=1)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    max_grad_norm: Annotated[Number, Field(gt=0, le=1e6)] | None = 1.0
    # auto: the GPU when there is one; cuda:N the N-th GPU that CUDA_VISIBLE_DEVICES leaves visible.
    device: str = "auto"
    # auto: bf16-mixed on a GPU with bf16, fp32 elsewhere; `-mixed` autocasts over fp32 weights,
    # `bf16` loads the model's weights in bf16 (adapters stay fp32). See poc_cli.hardware.
    precision: Literal["auto", "fp32", "bf16-mixed", "fp16-mixed", "bf16"] = "auto"
    # Memory savers: recompute activations in backward; sum the gradients of N batches per optimizer
    # step (effective batch = batch_size x N; every step counted by the schedule is an optimizer step).
    gradient_checkpointing: Annotated[bool, Field(strict=True)] = False
    gradient_accumulation_steps: Annotated[int, Field(strict=True, ge=1, le=4096)] = 1
    # The frozen base in 4-bit NF4 (QLoRA) or 8-bit, through bitsandbytes on an NVIDIA GPU.
    quantization: Literal["none", "nf4", "int8"] = "none"
    timeout_minutes: Annotated[Number, Field(gt=0, le=60 * 24 * 31)] | None = None  # at most a month
    # One job across N GPUs (FSDP2, one process per GPU; docs/scaling-out.md), or `auto` (the plan's sizing);
    # a method's own `gpus_per_job` overrides it.
    gpus_per_job: GpusPerJob = 1

    @field_validator("device")
    @classmethod
    def _a_device(cls, value: str) -> str:
        if not DEVICE.fullmatch(value):
            raise ValueError(f"{clip(value, 40)!r} is not a device; use auto, cpu, cuda or cuda:N (N: a GPU index)")
        return value

    @model_validator(mode="after")
    def _one_length(self) -> TrainingSpec:
        if self.epochs is not None and self.steps is not None:
            raise ValueError("give either 'epochs' or 'steps', not both")
        return self

    @property
    def epochs_or_default(self) -> int:
        """Epochs to run when `steps` is not set (1 when neither is)."""
        return self.epochs or 1

    @property
    def effective_batch_size(self) -> int:
        """Examples per optimizer step."""
        return self.batch_size * self.gradient_accumulation_steps


class CostSpec(Strict):
    """Prices for the cost figures; without a GPU price the report uses a typical cloud price
    for the GPU model and marks it as an assumption."""

    gpu_hourly_price: Annotated[Amount, Field(gt=0)] | None = None
    currency: str = Field(default="USD", min_length=1, max_length=8)
    electricity_price_per_kwh: Amount = 0.15
    target_train_examples: Annotated[int, Field(strict=True, ge=1, le=10**12)] | None = None  # the full-scale training
    target_epochs: Annotated[Number, Field(gt=0, le=1000)] | None = None  # the PoC stands for

    @model_validator(mode="after")
    def _priced_in_its_currency(self) -> CostSpec:
        if self.currency != "USD" and self.gpu_hourly_price is None:
            raise ValueError(f"currency {self.currency!r} needs gpu_hourly_price in {self.currency} (the typical "
                             "cloud prices poc assumes without one are in USD)")
        return self


class ReportSpec(Strict):
    """How the report decides (the reference method, the GPU memory available) and the time zone
    its date is written in (an IANA name such as Asia/Tokyo; default: the machine's)."""

    baseline: str = "lora"
    memory_limit_mib: Annotated[Number, Field(gt=0, le=2**30)] | None = None
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

    `strategy: grid` (the default) trains every point to the end. `halving` starts every point
    with the full-length schedule and lets only the best third on validation go on at a third
    and at two thirds of the steps; the survivors finish, and the choice is made on full-length
    scores only. It trains about half the steps, but on Banking77 the ranking at a third of the
    steps chose another learning rate than the full grid for LoRA and RandLoRA (docs/benchmarks.md), so a
    decision's search stays a grid unless the recipe asks for halving. A best rate at an end of the
    grid gets trials beyond it, up to `edge_steps` a method (edges.py; 0: none).
    """

    strategy: Literal["grid", "halving"] = "grid"
    edge_steps: int = Field(default=3, ge=0, le=10, strict=True)
    epochs: Epochs | None = None
    steps: Steps | None = None
    metric: str | None = None  # a metric the task declares; default: its primary metric
    seed: Seed | None = None  # default: the recipe's first seed
    validation_fraction: Number | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_length(self) -> SearchSpec:
        if self.epochs is not None and self.steps is not None:
            raise ValueError("give either 'epochs' or 'steps', not both")
        return self


class EvaluationSpec(Strict):
    """How generative tasks are scored on the test split (classification tasks ignore it)."""

    max_new_tokens: int = Field(default=32, ge=1, le=2048, strict=True)  # greedy generation per test example
    forgetting_passages: int = Field(default=200, ge=0, le=5000, strict=True)  # general-text sample (BBC News); 0: skip


class MeasureSpec(Strict):
    """How measurements are sampled; not part of a job's identity."""

    sample_interval_ms: int = Field(default=50, ge=10, le=1000, strict=True)
    busy_gpu_threshold_mib: Number = Field(default=1024.0, ge=0, le=2**30)
    serving: bool = Field(default=True, strict=True)  # false: no serving figures (a large model's take minutes)


class Recipe(Strict):
    """A whole PoC: one model, one dataset, several methods at one budget, several seeds."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    model: str = Field(min_length=1)
    task: str = "text-classification"  # a key of poc_cli.tasks.TASKS, checked with the data by tasks.task_for
    data: DataSpec
    methods: list[MethodSpec] = Field(min_length=1)
    budget: BudgetSpec = BudgetSpec(lora_rank=8)
    training: TrainingSpec = TrainingSpec()
    seeds: list[Seed] = Field(default=[0], min_length=1, max_length=100)
    target_modules: list[str] | None = Field(default=None, min_length=1)
    measure: MeasureSpec = MeasureSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    cost: CostSpec = CostSpec()
    business: BusinessBlock | None = None
    report: ReportSpec = ReportSpec()
    search: SearchSpec | None = None
    # Forecasting: the classical rows fitted beside the methods (seasonal naive is computed, never fitted);
    # None: the task's default. Which names a task takes is checked where recipe and task meet.
    references: list[Annotated[str, Field(min_length=1, max_length=40)]] | None = Field(default=None, max_length=10)

    @field_validator("search", mode="before")
    @classmethod
    def _search_switch(cls, value: Any) -> Any:
        """`search: true` runs the default search, `false` none."""
        if value is True:
            return {}
        return None if value is False else value

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
    def _threshold_from_validation(self) -> Recipe:
        business = self.business
        if getattr(business, "operating_point", False) and self.data.validation is None \
                and self.data.validation_fraction is None:
            field = "required_detection_rate" if business.required_detection_rate is not None else "max_false_alarm_rate"
            raise ValueError(f"business.{field}: the threshold is chosen on a validation split, never on test; set "
                             "data.validation_fraction (or data.validation)")
        return self

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


MAX_LINE = 300  # after the file's path: an error is one line a user reads, never a dump of what they wrote


def _format_error(path: Path, err: ValidationError) -> str:
    """One line: file, then at most MAX_LINE characters: dotted field, what is wrong, the value given."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
    # Pydantic names the union member in the location ("methods.0.lora.r", "business.rates.cost_missed"); drop it.
    parts = loc.split(".")
    parts = [p for k, p in enumerate(parts) if p not in METHODS
             and not (k == 1 and parts[0] == "business" and p in {"rates", "forecast", "serving"})]
    field = ".".join(parts) or "recipe"
    msg = first["msg"].removeprefix("Value error, ")
    extra = ""
    if first["type"] not in {"value_error", "missing", "union_tag_invalid"} and "input" in first:
        extra = f" (got {clip(repr(first['input']), 60)})"
    more = len(err.errors()) - 1
    tail = f" [+{more} more]" if more else ""
    if field == "recipe" and re.match(r"[a-z_][\w.]*: ", msg):  # a cross-field check names its field itself
        return f"{path}: " + clip(f"{msg}{extra}", MAX_LINE - len(tail)) + tail
    return f"{path}: " + clip(f"{field}: {msg}{extra}", MAX_LINE - len(tail)) + tail


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe; any problem is a one-line RecipeError naming the field."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: " + ("recipe file not found" if not path.exists() else
                                         f"{kind(path)}, not a recipe file"))
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping with keys name, model, data, methods, ...")
    check_shape(raw, path)
    try:
        return Recipe.model_validate(raw)
    except ValidationError as err:
        raise RecipeError(_format_error(path, err)) from None
