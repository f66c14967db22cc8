"""What `poc run` would reject only after loading weights or training, checked by the plan first.

Each check needs the data or the model's config, not the weights, so `poc plan` finds in seconds
what a job would otherwise find after an hour: a device, precision or quantization this machine
cannot do, a length the model cannot embed, a business block about a class the data does not
have, a batch larger than the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from poc_cli.data import Splits
from poc_cli.errors import RecipeError, listed
from poc_cli.methods import get_method
from poc_cli.business_spec import BusinessSpec

if TYPE_CHECKING:
    from torch import nn
    from transformers import PretrainedConfig

    from poc_cli.hardware import Facts
    from poc_cli.recipe import Recipe
    from poc_cli.tasks.base import Task


def check_runnable(recipe: Recipe, task: Task, config: PretrainedConfig, splits: Splits,
                   trial_splits: Splits | None) -> None:
    """Raise a RecipeError naming the field for the first thing a job would fail on."""
    _length_fits(recipe, task, config)
    _positive_class_is_a_label(recipe, splits)
    _batch_fits(recipe, splits, trial_splits)


def _length_fits(recipe: Recipe, task: Task, config: PretrainedConfig) -> None:
    limit = task.position_limit(config)
    length = recipe.training.max_length
    if limit is not None and length > limit:
        raise RecipeError(f"training.max_length: {length} tokens is more than {recipe.model} can embed "
                          f"({limit} positions); use at most {limit}")


def check_hardware(recipe: Recipe, found: Facts) -> None:
    """Raise a RecipeError naming the field for a training setting the jobs' machine (`found`
    there) or a method of the recipe cannot do (before any data or model is read)."""
    quantization = recipe.training.quantization
    for spec in recipe.methods:  # a contradiction on any machine: said first
        if quantization != "none" and not get_method(spec.method).QUANTIZABLE:
            raise RecipeError(f"training.quantization: {quantization} freezes the base model in "
                              f"{'4' if quantization == 'nf4' else '8'} bits, but method {spec.label!r} trains every "
                              "weight; remove it from methods or set quantization: none")
    if found.problems:
        raise RecipeError(found.problems[0])


def check_checkpointing(recipe: Recipe, skeleton: nn.Module) -> None:
    """`training.gradient_checkpointing` needs a model class that can recompute its layers."""
    if recipe.training.gradient_checkpointing and not getattr(skeleton, "supports_gradient_checkpointing", False):
        raise RecipeError(f"training.gradient_checkpointing: {type(skeleton).__name__} ({recipe.model}) "
                          "does not support it; set it to false")


def _positive_class_is_a_label(recipe: Recipe, splits: Splits) -> None:
    business = recipe.business
    if isinstance(business, BusinessSpec) and business.positive_class not in splits.labels:
        raise RecipeError(f"business.positive_class: {business.positive_class!r} is not a label of the data; "
                          f"labels: {listed(splits.labels)}")
    if isinstance(business, BusinessSpec) and business.operating_point and len(splits.labels) != 2:
        field = "required_detection_rate" if business.required_detection_rate is not None else "max_false_alarm_rate"
        raise RecipeError(f"business.{field}: a threshold on the positive class's score needs two classes; the data "
                          f"has {len(splits.labels)}")


def _batch_fits(recipe: Recipe, splits: Splits, trial_splits: Splits | None) -> None:
    batch = recipe.training.batch_size
    for what, found in (("train split", splits), ("train split of the search trials", trial_splits)):
        if found is not None and batch > len(found.train):
            raise RecipeError(f"training.batch_size: {batch} is more than the {what} holds "
                              f"({len(found.train):,} examples); use at most {len(found.train):,}")
