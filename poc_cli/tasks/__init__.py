"""Registry of tasks: a plain dict from the recipe's `task` to its class (see tasks/base.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poc_cli.errors import RecipeError
from poc_cli.tasks.base import Metric, Task
from poc_cli.tasks.causal_lm import CausalLM
from poc_cli.tasks.forecasting import Forecasting
from poc_cli.tasks.image_classification import ImageClassification
from poc_cli.tasks.image_text import ImageText
from poc_cli.tasks.text_classification import TextClassification

if TYPE_CHECKING:
    from poc_cli.recipe import DataSpec, EvaluationSpec

TASKS: dict[str, type[Task]] = {t.name: t for t in (TextClassification, ImageClassification, ImageText, CausalLM,
                                                           Forecasting)}


def get_task(name: str, data: DataSpec, evaluation: EvaluationSpec | None = None) -> Task:
    """The task `name` for the recipe's data (and evaluation) sections; an unknown name lists the valid ones."""
    if name not in TASKS:
        raise RecipeError(f"task: unknown task {name!r}; available: {', '.join(TASKS)}")
    return TASKS[name](data, evaluation)


__all__ = ["TASKS", "Metric", "Task", "get_task"]
