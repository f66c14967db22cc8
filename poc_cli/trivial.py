"""What a model that learned nothing scores: the trivial row of compare and the report (the majority class,
seasonal naive), computed from a record's stored test predictions.

Torch-free, and keyed by the task's name rather than found on the task's class, so that compare and the
report read it without loading the tasks (and torch and transformers with them). A task without an entry
has no trivial answer (a causal LM's reference is a model of its own: the untuned one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from poc_cli import forecast_scores
from poc_cli.classification_scores import classification_metrics


@dataclass(frozen=True)
class Trivial:
    """What a model that learned nothing scores on one test split (e.g. always the majority class)."""

    name: str  # "majority-class": the row's label in compare and the report
    metrics: dict[str, float]
    per_example: dict[str, list[float]]


def majority_class(predictions: dict[str, list], labels: tuple[str, ...], metrics: list[str]) -> Trivial | None:
    """Always the test split's most common class: the best any constant answer can score, so a model that
    learned nothing cannot beat it."""
    y_true = predictions.get("y_true") or []
    if not y_true:
        return None
    majority = max(sorted(set(y_true)), key=y_true.count)
    names = tuple(labels) or tuple(str(i) for i in range(max(len(labels), max(y_true) + 1)))
    scores = classification_metrics(y_true, [majority] * len(y_true), names)
    return Trivial("majority-class", metrics={name: scores[name] for name in metrics if name in scores},
                   per_example={"accuracy": [float(t == majority) for t in y_true]})


def seasonal_naive(predictions: dict[str, list], labels: tuple[str, ...], metrics: list[str]) -> Trivial | None:
    """Each point the value one season earlier, scored like every forecast."""
    del labels, metrics
    if not predictions.get("naive"):
        return None
    per = forecast_scores.scores(predictions["actual"], predictions["naive"], predictions["scale"])
    return Trivial("seasonal-naive", metrics={name: float(np.mean(v)) for name, v in per.items()}, per_example=per)


Answer = Callable[[dict[str, list], tuple[str, ...], list[str]], "Trivial | None"]
ANSWERS: dict[str, tuple[str, Answer]] = {
    "text-classification": ("majority-class", majority_class),
    "image-classification": ("majority-class", majority_class),
    "image-text": ("majority-class", majority_class),
    "forecasting": ("seasonal-naive", seasonal_naive),
}


def trivial_name(task: str) -> str | None:
    """The trivial row's name for task `task` (None: it has none)."""
    return ANSWERS[task][0] if task in ANSWERS else None


def trivial(task: str, predictions: dict[str, list], labels: tuple[str, ...], metrics: list[str]) -> Trivial | None:
    """Task `task`'s trivial answer scored on a test split's stored predictions (None where it has none)."""
    return ANSWERS[task][1](predictions, labels, metrics) if task in ANSWERS and predictions else None
