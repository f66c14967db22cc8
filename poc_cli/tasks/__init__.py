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

from poc_cli.business_spec import BUSINESS_NEEDS, BUSINESS_WHAT
from poc_cli.recipe import DataSpec

if TYPE_CHECKING:
    from poc_cli.recipe import EvaluationSpec, Recipe

TASKS: dict[str, type[Task]] = {t.name: t for t in (TextClassification, ImageClassification, ImageText, CausalLM,
                                                           Forecasting)}


def get_task(name: str, data: DataSpec, evaluation: EvaluationSpec | None = None) -> Task:
    """The task `name` for the recipe's data (and evaluation) sections; an unknown name lists the valid ones."""
    if name not in TASKS:
        raise RecipeError(f"task: unknown task {name!r}; available: {', '.join(TASKS)}")
    return TASKS[name](data, evaluation)


def task_for(recipe: Recipe) -> Task:
    """The recipe's task, set up for its data and evaluation sections (checked once, by `checked_task`)."""
    return get_task(recipe.task, recipe.data, recipe.evaluation)


def checked_task(recipe: Recipe) -> Task:
    """The recipe's task, once it accepts the recipe: the data fields set are ones it reads, the business
    block is the kind it prices, the search metric is one it declares. This is where recipe and task meet
    (the plan's first check), so the recipe validates only its own fields and never imports the tasks.
    Trials' derived recipes are not checked again: the plan derives them from a checked one."""
    task = task_for(recipe)
    try:
        _accepts(task, recipe)
        task.check_spec()
    except ValueError as error:
        raise RecipeError(str(error)) from None
    return task


def _accepts(task: Task, recipe: Recipe) -> None:
    """A ValueError naming the first recipe field the task does not take."""
    every = {f for t in TASKS.values() for f in t.data_fields}
    given = {f for f in recipe.data.model_fields_set if getattr(recipe.data, f) != DataSpec.model_fields[f].default}
    for field in sorted((every - task.data_fields) & given):
        users = ", ".join(t.name for t in TASKS.values() if field in t.data_fields)
        raise ValueError(f"data.{field}: not read by task {task.name} (only by {users})")
    if not task.labelled and recipe.data.shots_per_class is not None:
        raise ValueError(f"data.shots_per_class: task {task.name} has no classes to draw shots from")
    if recipe.business is not None and recipe.business.kind not in {task.business_block, "serving"}:
        raise ValueError(f"business: {BUSINESS_NEEDS[recipe.business.kind]}; task {task.name} "
                         + (f"prices {BUSINESS_WHAT[task.business_block]}" if task.business_block else "has no "
                            "business block"))
    if recipe.data.test is None and recipe.data.test_fraction is None and not task.test_from_train:
        raise ValueError("data: a test split is required: set 'test' (a file) or 'test_fraction'")
    if recipe.references is not None:
        if not task.references:
            raise ValueError(f"references: task {task.name} has no classical reference rows (forecasting has)")
        for k, name in enumerate(recipe.references):
            if name in recipe.references[:k]:
                raise ValueError(f"references: {name!r} is given twice")
            if name not in task.references:
                raise ValueError(f"references: {name!r} is not a reference of task {task.name}; use any of "
                                 f"{', '.join(task.references)}")
    names = [m.name for m in task.metrics]
    if recipe.search is not None and recipe.search.metric is not None and recipe.search.metric not in names:
        raise ValueError(f"search.metric: {recipe.search.metric!r} is not a metric of task {task.name}; "
                         f"use one of {', '.join(names)}")


def search_objective(recipe: Recipe) -> Metric:
    """The validation metric a search chooses by, with its direction: the recipe's, else its task's
    primary (`checked_task` made sure the recipe's is one the task declares)."""
    assert recipe.search is not None
    task = task_for(recipe)
    return next(m for m in task.metrics if m.name == recipe.search.metric) if recipe.search.metric else task.primary


def search_metric(recipe: Recipe) -> str:
    """The name of the validation metric a search chooses by."""
    return search_objective(recipe).name


__all__ = ["TASKS", "Metric", "Task", "checked_task", "get_task", "search_metric", "search_objective", "task_for"]
