"""Fit every PEFT method to one trainable-parameter budget, exactly as peft will count it.

A comparison at unequal parameter counts says nothing about the method; so the budget is
a number, each method's setting (LoRA's r, RandLoRA's r) is the one whose count is
closest to it, and a deviation beyond the recipe's tolerance stops the PoC before it runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from poc_cli.errors import RecipeError
from poc_cli.methods import full, get_method
from poc_cli.modelhub import Architecture
from poc_cli.recipe import PEFT_METHODS, MethodSpec, Recipe


@dataclass(frozen=True)
class Allocation:
    """One method's place in the budget: its setting and its exact parameter counts."""

    label: str
    method: str
    r: int | None
    settings: dict[str, Any] = field(hash=False)
    adapter_parameters: int
    head_parameters: int
    total_parameters: int
    budget: int | None
    deviation: float | None  # (adapter - budget) / budget; None for full fine-tuning

    @property
    def trainable_parameters(self) -> int:
        """What the optimizer updates: adapter (or whole model) plus the head."""
        return self.adapter_parameters + self.head_parameters

    @property
    def percent_of_full(self) -> float:
        """Trainable parameters as a percentage of the full model."""
        return 100.0 * self.trainable_parameters / self.total_parameters

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def with_spec(allocation: Allocation, spec: MethodSpec) -> Allocation:
    """The allocation's settings for another setting of the same method (a search point)."""
    module = get_method(spec.method)
    settings = module.settings(spec, allocation.r) if spec.method in PEFT_METHODS else module.settings(spec)
    return replace(allocation, settings=settings)


def budget_target(recipe: Recipe, arch: Architecture) -> int:
    """The budget in adapter parameters (the head is counted apart)."""
    if recipe.budget.parameters is not None:
        return recipe.budget.parameters
    return get_method("lora").count(arch.layers, recipe.budget.lora_rank)


def allocate(recipe: Recipe, arch: Architecture) -> list[Allocation]:
    """One Allocation per method of the recipe, in recipe order; raise if one cannot fit."""
    target = budget_target(recipe, arch)
    body = full.count(arch)
    if target >= body:
        raise RecipeError(
            f"budget: {target:,} adapter parameters is not below the model's {body:,}; "
            "use full fine-tuning for that, or a smaller budget"
        )
    out = []
    for index, spec in enumerate(recipe.methods):
        if spec.method not in PEFT_METHODS:
            out.append(
                Allocation(
                    label=spec.label, method=spec.method, r=None, settings=full.settings(spec),
                    adapter_parameters=body, head_parameters=arch.head_parameters,
                    total_parameters=arch.total_parameters, budget=target, deviation=None,
                )
            )
            continue
        module = get_method(spec.method)
        r = spec.r if spec.r is not None else module.fit(arch.layers, target)
        adapter = module.count(arch.layers, r)
        deviation = (adapter - target) / target
        if abs(deviation) > recipe.budget.tolerance and not recipe.budget.allow_deviation:
            where = f"methods.{index}.r" if spec.r is not None else "budget"
            raise RecipeError(
                f"{where}: {spec.label} cannot match the budget of {target:,} parameters within "
                f"{recipe.budget.tolerance:.0%}: r={r} gives {adapter:,} ({deviation:+.1%}); "
                "change the budget, raise budget.tolerance, or set budget.allow_deviation: true"
            )
        out.append(
            Allocation(
                label=spec.label, method=spec.method, r=r, settings=module.settings(spec, r),
                adapter_parameters=adapter, head_parameters=arch.head_parameters,
                total_parameters=arch.total_parameters, budget=target, deviation=deviation,
            )
        )
    return out
