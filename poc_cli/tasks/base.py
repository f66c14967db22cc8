"""The task seam: what a kind of problem (text, images, image-text ...) owns, behind one protocol.

A task reads and checks its data, builds the model and its processor, names the modules
that are its new head, batches, computes the loss, predicts and scores. It declares its
metrics once; search, compare, the statistics and the report read that declaration (it
is stored in every record) instead of assuming "accuracy". A new task is one module that
subclasses `Task` (or `ClassificationTask`) and one line in `poc_cli.tasks.TASKS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from transformers import AutoConfig, PretrainedConfig

from poc_cli.classification_scores import classification_metrics
from poc_cli.errors import RecipeError

if TYPE_CHECKING:
    from poc_cli.data import SourceFile, Splits
    from poc_cli.recipe import DataSpec, EvaluationSpec, TrainingSpec

# A folder reader: (path, field) -> (frame, source); tasks whose data may be a folder provide one.
FolderReader = Callable[[str, str], "tuple[pd.DataFrame, SourceFile]"]


@dataclass(frozen=True)
class Metric:
    """A declared metric: how it is named, its unit and which direction is better.

    `per_example`: the metric is the mean of a per-example score (accuracy: 1 when right),
    so a paired bootstrap over test examples can give its interval with one seed.
    """

    name: str
    unit: str  # "fraction" (shown in %), or a unit such as "nats"
    higher_is_better: bool
    per_example: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ACCURACY = Metric("accuracy", "fraction", higher_is_better=True, per_example=True)
MACRO_F1 = Metric("macro_f1", "fraction", higher_is_better=True, per_example=False)


class Task(ABC):
    """One kind of problem. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    metrics: ClassVar[tuple[Metric, ...]]  # the first is the primary metric
    # Recipe `data` fields this task reads beyond the common ones; a field set for another task is an error.
    data_fields: ClassVar[frozenset[str]] = frozenset()
    # Method id of an untrained reference row the plan adds (e.g. "zero-shot"); None: no reference.
    reference: ClassVar[str | None] = None
    # Classical reference rows a recipe may ask for (`references:`), the default set first; () for none.
    references: ClassVar[tuple[str, ...]] = ()
    default_references: ClassVar[tuple[str, ...]] = ()
    # Parts of module names kept out of the default targets (e.g. BERT's pooler).
    excluded_by_default: ClassVar[tuple[str, ...]] = ()
    folder_reader: ClassVar[FolderReader | None] = None
    # Whether every example has a class label (a `label` column, label checks, stratified cuts).
    labelled: ClassVar[bool] = True
    # Columns kept as read (lists such as chat messages), not made text.
    raw_columns: ClassVar[frozenset[str]] = frozenset()
    # The recipe's business block this task prices ("rates": detection and false alarms; "forecast"); None: none.
    business_block: ClassVar[str | None] = None
    # Whether a recipe may leave the test out: the task cuts it from the training table itself.
    test_from_train: ClassVar[bool] = False
    # What one example of a split is, where it is not a row of the data (forecasting: windows, series).
    example_nouns: ClassVar[dict[str, str]] = {}

    def __init__(self, spec: DataSpec, evaluation: EvaluationSpec | None = None) -> None:
        from poc_cli.recipe import EvaluationSpec  # the recipe imports the tasks lazily: no cycle at import time

        self.spec = spec
        self.evaluation = evaluation or EvaluationSpec()

    @property
    def primary(self) -> Metric:
        return self.metrics[0]

    def check_spec(self) -> None:
        """Task-specific checks of the recipe's data section: a ValueError naming the field first."""

    @abstractmethod
    def columns(self) -> dict[str, str]:
        """The columns a split must have: name inside poc -> the recipe field that names it in the file."""

    def make_splits(self, read: Callable[[str, str], pd.DataFrame],
                    include_test: bool) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None] | None:
        """Train, validation and test cut by the task itself from the files `read(location, field)` returns
        (e.g. forecasting cuts by time, not by row); None: poc's row-wise cuts, caps and label checks."""
        del read, include_test
        return None

    def finish_split(self, frame: pd.DataFrame, *, location: str, field: str) -> pd.DataFrame:
        """Last checks and conversions of one split read from `location` (e.g. resolve image paths)."""
        del location, field
        return frame

    @abstractmethod
    def config(self, source: str, labels: tuple[str, ...]) -> PretrainedConfig:
        """The model's config, with the task's labels where the model has a head."""

    @abstractmethod
    def skeleton(self, config: PretrainedConfig) -> nn.Module:
        """The model with the right shapes and no weights (meta device): for counting only."""

    @abstractmethod
    def load_model(self, source: str, config: PretrainedConfig, **weights: Any) -> nn.Module:
        """The pretrained model (a new head initialised from torch's RNG: seed first); `weights` are
        `from_pretrained`'s dtype or quantization options (`hardware.weights_options`)."""

    @abstractmethod
    def processor(self, source: str, config: PretrainedConfig) -> Any:
        """The model's tokenizer, image processor, or both."""

    @abstractmethod
    def head_modules(self, model: nn.Module) -> tuple[str, ...]:
        """Top-level modules new for the task: trained by every method, outside the budget."""

    @abstractmethod
    def encode(self, frame: pd.DataFrame, processor: Any, labels: tuple[str, ...], training: TrainingSpec) -> Dataset:
        """One split as a Dataset of model inputs with `labels`."""

    @abstractmethod
    def loader(self, dataset: Dataset, processor: Any, *, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
        """Batches of `dataset`; the order is drawn from `seed`."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of one batch (a scalar)."""

    @abstractmethod
    def predict(self, model: nn.Module, batches: DataLoader, *, device: torch.device) -> dict[str, list]:
        """Per-example predictions of a split, in split order (stored in the record)."""

    @abstractmethod
    def evaluate(self, predictions: dict[str, list], labels: tuple[str, ...]) -> dict[str, Any]:
        """The declared metrics (and details) from `predict`'s output."""

    def inspect(self, splits: Splits, source: str, config: PretrainedConfig,
                training: TrainingSpec) -> list[str]:
        """Checks that need the processor, run by the plan before any job: a RecipeError for bad input,
        else notes for the user (e.g. how many examples max_length truncates)."""
        del splits, source, config, training
        return []

    def position_limit(self, config: PretrainedConfig) -> int | None:
        """The most tokens the model embeds, where `training.max_length` applies (None: it does not)."""
        del config
        return None

    def example_tokens(self, dataset: Dataset) -> list[int] | None:
        """Tokens per example, in dataset order, so that sizing can take the longest batch a job
        will meet (None: every example is the same size, e.g. images at the processor's size)."""
        del dataset
        return None

    def data_counts(self, dataset: Dataset) -> dict[str, int]:
        """What fitting a split to the model did to its examples (e.g. truncated), for the record."""
        del dataset
        return {}

    def before_training(self, model: nn.Module, processor: Any, *, device: torch.device) -> Any:
        """What the task measures on the untrained model for `model_metrics` (None: nothing)."""
        del model, processor, device

    def model_metrics(self, model: nn.Module, processor: Any, *, device: torch.device,
                      before: Any) -> dict[str, float]:
        """Metrics of the trained model itself rather than of a split (e.g. forgetting)."""
        del model, processor, device, before
        return {}

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> int:
        """How many terms the batch's mean loss averages over (its examples), so that accumulated
        batches of unequal size weigh as one large batch would."""
        return self.examples(batch)

    def examples(self, batch: dict[str, torch.Tensor]) -> int:
        """Examples in a batch, for examples/s."""
        return int(batch["labels"].shape[0])

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        """Text tokens in a batch, for tokens/s (0 where the input is not text)."""
        mask = batch.get("attention_mask")
        return int(mask.sum()) if mask is not None else 0


class ClassificationTask(Task):
    """Every input gets one of the labels: cross-entropy over class logits, accuracy and macro-F1.

    Subclasses say how to get the logits of a batch (`logits`); loss, prediction and scoring
    are shared, so text, image and image-text classification score exactly alike.
    """

    metrics = (ACCURACY, MACRO_F1)
    business_block = "rates"

    @abstractmethod
    def logits(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(batch, classes) scores of a batch; `labels` in the batch are not read."""

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(self.logits(model, batch), batch["labels"])

    @torch.no_grad()
    def predict(self, model: nn.Module, batches: DataLoader, *, device: torch.device) -> dict[str, list]:
        """True labels, predicted labels, the predicted class's probability and whether it was right."""
        model.eval()
        y_true: list[int] = []
        y_pred: list[int] = []
        confidence: list[float] = []
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            probs = torch.softmax(self.logits(model, batch).float(), dim=-1)
            top, index = probs.max(dim=-1)
            y_true += batch["labels"].tolist()
            y_pred += index.tolist()
            confidence += top.tolist()
        correct = [float(t == p) for t, p in zip(y_true, y_pred)]
        return {"y_true": y_true, "y_pred": y_pred, "confidence": confidence, "per_example": {"accuracy": correct}}

    def evaluate(self, predictions: dict[str, list], labels: tuple[str, ...]) -> dict[str, Any]:
        return classification_metrics(predictions["y_true"], predictions["y_pred"], labels)


class HeadClassification(ClassificationTask):
    """A classification task whose model is an `AutoModelFor...Classification` class with a new head.

    Subclasses name the class (`auto_model`); the config carries the task's labels, the
    head is what lies outside the base model, and the logits are the model's own.
    """

    auto_model: ClassVar[Any]  # e.g. transformers.AutoModelForSequenceClassification
    load_kwargs: ClassVar[dict[str, Any]] = {}

    def config(self, source: str, labels: tuple[str, ...]) -> PretrainedConfig:
        return AutoConfig.from_pretrained(source, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                          label2id={label: i for i, label in enumerate(labels)})

    def skeleton(self, config: PretrainedConfig) -> nn.Module:
        with torch.device("meta"):
            return self.auto_model.from_config(config)

    def load_model(self, source: str, config: PretrainedConfig, **weights: Any) -> nn.Module:
        return self.auto_model.from_pretrained(source, config=config, **self.load_kwargs, **weights)

    def head_modules(self, model: nn.Module) -> tuple[str, ...]:
        return top_level_heads(model)


def text_positions(config: PretrainedConfig) -> int | None:
    """A text model's position limit, under the names transformers' configs use for it."""
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def top_level_heads(model: nn.Module) -> tuple[str, ...]:
    """Top-level children outside the pretrained base model that hold parameters.

    For a `...ForSequenceClassification` / `...ForImageClassification` model these are newly
    initialised for the task (BERT's `classifier`, GPT-2's `score`, ViT's `classifier`);
    peft calls them `modules_to_save`.
    """
    base = getattr(model, "base_model_prefix", "")
    if not hasattr(model, base):
        raise RecipeError(f"model: {type(model).__name__} has no base model '{base}' to tell its head from")
    return tuple(name for name, child in model.named_children()
                 if name != base and any(True for _ in child.parameters()))
