"""What `poc run` would reject only after loading weights or training, checked by the plan first.

Each check needs the data or the model's config, not the weights, so `poc plan` finds in seconds
what a job would otherwise find after an hour: a length the model cannot embed, a device that
is not there, a business block about a class the data does not have, a batch larger than the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from poc_cli.data import Splits
from poc_cli.errors import RecipeError, listed

if TYPE_CHECKING:
    from transformers import PretrainedConfig

    from poc_cli.recipe import Recipe
    from poc_cli.tasks.base import Task


def check_runnable(recipe: Recipe, task: Task, config: PretrainedConfig, splits: Splits,
                   trial_splits: Splits | None) -> None:
    """Raise a RecipeError naming the field for the first thing a job would fail on."""
    _length_fits(recipe, task, config)
    problem = device_problem(recipe.training.device)
    if problem is not None:
        raise RecipeError(problem)
    _positive_class_is_a_label(recipe, splits)
    _batch_fits(recipe, splits, trial_splits)


def _length_fits(recipe: Recipe, task: Task, config: PretrainedConfig) -> None:
    limit = task.position_limit(config)
    length = recipe.training.max_length
    if limit is not None and length > limit:
        raise RecipeError(f"training.max_length: {length} tokens is more than {recipe.model} can embed "
                          f"({limit} positions); use at most {limit}")


def device_problem(device: str) -> str | None:
    """Why `training.device` cannot be used here, or None; the one check the plan, the doctor and
    the job itself make."""
    if device == "cuda" and not torch.cuda.is_available():
        return ("training.device: 'cuda' asked for, but torch sees no CUDA device here "
                f"(torch {torch.__version__}); use auto or cpu, or run where a GPU is")
    return None


def _positive_class_is_a_label(recipe: Recipe, splits: Splits) -> None:
    business = recipe.business
    if business is not None and business.positive_class not in splits.labels:
        raise RecipeError(f"business.positive_class: {business.positive_class!r} is not a label of the data; "
                          f"labels: {listed(splits.labels)}")


def _batch_fits(recipe: Recipe, splits: Splits, trial_splits: Splits | None) -> None:
    batch = recipe.training.batch_size
    for what, found in (("train split", splits), ("train split of the search trials", trial_splits)):
        if found is not None and batch > len(found.train):
            raise RecipeError(f"training.batch_size: {batch} is more than the {what} holds "
                              f"({len(found.train):,} examples); use at most {len(found.train):,}")
