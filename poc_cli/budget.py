"""Fit every PEFT method to one trainable-parameter budget, exactly as peft will count it.

A comparison at unequal parameter counts says nothing about the method; so the budget is
a number, each method's setting (LoRA's r, RandLoRA's r) is the one whose count is
closest to it, and a deviation beyond the recipe's tolerance stops the PoC before it runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from poc_cli.errors import RecipeError
from poc_cli.methods import full, get_method
from poc_cli.modelhub import Architecture
from poc_cli.recipe import MethodSpec, Recipe
from poc_cli.records.sections import ADDED_LATER
from poc_cli.targets import convolutions
from poc_cli.methods.zero_shot import ReferenceSpec

if TYPE_CHECKING:
    from poc_cli.methods.classical import ClassicalSpec


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
    off_budget: bool = False  # runs beyond the tolerance, as the recipe allows (`off_budget`) or without a knob
    frozen_parameters: int = 0  # frozen matrices the method adds (VeRA's shared projections): memory, not trained

    @property
    def trainable_parameters(self) -> int:
        """What the optimizer updates: adapter (or whole model) plus the head."""
        return self.adapter_parameters + self.head_parameters

    @property
    def percent_of_full(self) -> float:
        """Trainable parameters as a percentage of the full model."""
        return 100.0 * self.trainable_parameters / self.total_parameters

    def to_dict(self) -> dict[str, Any]:
        """As stored in job identities and records; the fields added later are left out at their defaults,
        so the jobs of stores written before them keep their ids."""
        out = asdict(self)
        for name, value in ADDED_LATER["allocation"].items():
            if out[name] == value:
                del out[name]
        return out




def with_spec(allocation: Allocation, spec: MethodSpec | ReferenceSpec) -> Allocation:
    """The allocation's settings for another setting of the same method (a search point)."""
    return replace(allocation, settings=get_method(spec.method).settings(spec, allocation.r))


def budget_target(recipe: Recipe, arch: Architecture) -> int:
    """The budget in adapter parameters (the head is counted apart)."""
    if recipe.budget.parameters is not None:
        return recipe.budget.parameters
    return get_method("lora").count(arch, recipe.budget.lora_rank)


def _allocation(spec: MethodSpec | ReferenceSpec | ClassicalSpec, arch: Architecture, target: int, r: float | None) -> Allocation:
    module = get_method(spec.method)
    adapter = module.count(arch, r, spec)
    frozen = getattr(module, "frozen", None)  # an optional part of the method protocol
    return Allocation(
        label=spec.label, method=spec.method, r=r, settings=module.settings(spec, r), adapter_parameters=adapter,
        head_parameters=arch.head_parameters if module.TRAINS else 0, total_parameters=arch.total_parameters,
        budget=target, deviation=(adapter - target) / target if module.FITTED else None,
        frozen_parameters=frozen(arch, r) if frozen is not None else 0,
    )


def _fitted(index: int, spec: MethodSpec, arch: Architecture, target: int) -> Allocation:
    """The method at its given setting, else at the one closest to the budget; a setting the method's
    library refuses (a peft tuner's knob) is a RecipeError naming the method."""
    module = get_method(spec.method)
    without = getattr(module, "NO_CONVOLUTIONS", None)  # an optional part of the method protocol
    if without and convolutions(arch.layers):
        raise RecipeError(f"methods.{index}: {spec.label} adapts no convolution ({without}), and "
                          f"{convolutions(arch.layers)} of the {len(arch.layers)} target layers are convolutions: "
                          "leave it out, or name Linear layers in target_modules")
    given = getattr(spec, "r", None)
    try:
        return _allocation(spec, arch, target, given if given is not None else module.fit(arch, target, spec))
    except ValueError as error:
        raise RecipeError(f"methods.{index}: {spec.label}: {error}") from None


def _ranks_that_fit(spec: MethodSpec, recipe: Recipe, arch: Architecture) -> list[int]:
    """LoRA ranks next to the recipe's (up to 4 either side) whose budget this method fits within the
    tolerance, nearest first: a method whose count moves in large steps (RandLoRA on a small CNN) fits
    some budgets and misses others. Methods sized by counting a model (peft tuners) are not tried."""
    rank, module = recipe.budget.lora_rank, get_method(spec.method)
    if rank is None or spec.method == "peft":
        return []
    fitting = []
    for candidate in sorted(range(max(1, rank - 4), rank + 5), key=lambda k: (abs(k - rank), -k)):
        budget = get_method("lora").count(arch, candidate)
        count = module.count(arch, module.fit(arch, budget, spec), spec)
        if candidate != rank and abs(count - budget) <= recipe.budget.tolerance * budget:
            fitting.append(candidate)
    return fitting[:2]


def _off_budget_error(index: int, spec: MethodSpec, allocation: Allocation, recipe: Recipe,
                      arch: Architecture) -> RecipeError:
    """Why a method misses the budget, and the settings that would let it run."""
    target, deviation = allocation.budget or 0, allocation.deviation or 0.0
    given = getattr(spec, "r", None) is not None
    where = f"methods.{index}.r" if given else "budget"
    setting = f"{getattr(spec, 'knob', None) or 'r'}={allocation.r}"
    nearby = _ranks_that_fit(spec, recipe, arch) if not given else []
    if nearby:
        return RecipeError(
            f"budget: {spec.label} cannot match the budget of {target:,} parameters within "
            f"{recipe.budget.tolerance:.0%}: {setting} gives {allocation.adapter_parameters:,} ({deviation:+.1%}); "
            f"budget.lora_rank {' or '.join(map(str, nearby))} gives a budget it fits")
    if "off_budget" in type(spec).model_fields:  # a method that may run off the budget
        share = allocation.adapter_parameters / target
        return RecipeError(
            f"methods.{index}: {spec.label} cannot match the budget of {target:,} parameters within "
            f"{recipe.budget.tolerance:.0%}: its closest, {setting}, reaches {allocation.adapter_parameters:,} "
            f"({share:.1%} of the budget); set methods.{index}.off_budget: true to run it there, or change the budget")
    return RecipeError(
        f"{where}: {spec.label} cannot match the budget of {target:,} parameters within "
        f"{recipe.budget.tolerance:.0%}: {setting} gives {allocation.adapter_parameters:,} "
        f"({deviation:+.1%}); change the budget, raise budget.tolerance, or set budget.allow_deviation: true")


def reference_allocation(spec: ReferenceSpec | ClassicalSpec, recipe: Recipe, arch: Architecture) -> Allocation:
    """The untrained reference row: nothing trains, not even the head."""
    return _allocation(spec, arch, budget_target(recipe, arch), None)


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
        allocation = _fitted(index, spec, arch, target)
        deviation = allocation.deviation
        if deviation is not None and abs(deviation) > recipe.budget.tolerance:
            no_setting = allocation.r is None  # nothing to fit (a peft tuner without a knob): its own count, marked
            if not (recipe.budget.allow_deviation or getattr(spec, "off_budget", False) or no_setting):
                raise _off_budget_error(index, spec, allocation, recipe, arch)
            allocation = replace(allocation, off_budget=True)
        out.append(allocation)
    return out
