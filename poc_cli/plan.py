"""From a recipe to the list of jobs (method x seed), each with a stable identity.

A job's identity is a hash of everything that determines its result (model, data and
its file hashes, training settings, the method's resolved setting, seed) and of nothing
else, so adding a method or a seed to a recipe re-runs only what is new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from poc_cli.budget import Allocation, allocate, budget_target
from poc_cli.data import SourceFile, Splits, load_splits
from poc_cli.modelhub import Architecture, build_skeleton, describe, load_config, resolve_model
from poc_cli.recipe import Recipe


@dataclass(frozen=True)
class Job:
    """One method at one seed."""

    recipe: Recipe
    method_index: int
    allocation: Allocation
    seed: int
    sources: tuple[SourceFile, ...]

    @property
    def method_spec(self):  # noqa: ANN201 - a MethodSpec union member
        return self.recipe.methods[self.method_index]

    @cached_property
    def spec(self) -> dict[str, Any]:
        """The resolved, JSON-able description of the job; its hash is the job id."""
        recipe = self.recipe.model_dump(mode="json")
        return {
            "model": recipe["model"],
            "task": recipe["task"],
            "data": recipe["data"],
            "data_sha256": [s.sha256 for s in self.sources],
            "training": recipe["training"],
            "target_modules": recipe["target_modules"],
            "method": self.method_spec.model_dump(mode="json"),
            "allocation": self.allocation.to_dict(),
            "seed": self.seed,
        }

    @cached_property
    def id(self) -> str:
        blob = json.dumps(self.spec, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Plan:
    """What `poc run` will do, computed without loading any weights."""

    recipe: Recipe
    splits: Splits
    architecture: Architecture
    budget: int
    allocations: list[Allocation]
    jobs: list[Job]

    def to_dict(self) -> dict[str, Any]:
        """The plan as `poc plan --json` prints it."""
        return {
            "recipe": self.recipe.name,
            "model": self.recipe.model,
            "data": {
                "sizes": self.splits.sizes(),
                "labels": list(self.splits.labels),
                "sources": [asdict(s) for s in self.splits.sources],
            },
            "budget_parameters": self.budget,
            "tolerance": self.recipe.budget.tolerance,
            "head": {"modules": list(self.architecture.head_modules), "parameters": self.architecture.head_parameters},
            "full_model_parameters": self.architecture.total_parameters,
            "target_layers": len(self.architecture.layers),
            "methods": [
                {
                    "name": a.label,
                    "method": a.method,
                    "settings": a.settings,
                    "adapter_parameters": a.adapter_parameters,
                    "trainable_parameters": a.trainable_parameters,
                    "percent_of_full": a.percent_of_full,
                    "deviation": a.deviation,
                    "seeds": list(self.recipe.seeds),
                }
                for a in self.allocations
            ],
            "jobs": [{"id": j.id, "method": j.allocation.label, "seed": j.seed} for j in self.jobs],
        }


def make_plan(recipe: Recipe) -> Plan:
    """Validate data, model and budget; expand the jobs. Every failure is a RecipeError."""
    splits = load_splits(recipe.data)
    source = resolve_model(recipe.model)
    config = load_config(source, splits.labels, field_value=recipe.model)
    architecture = describe(build_skeleton(config), recipe.target_modules)
    allocations = allocate(recipe, architecture)
    jobs = [
        Job(recipe=recipe, method_index=i, allocation=allocation, seed=seed, sources=splits.sources)
        for i, allocation in enumerate(allocations)
        for seed in recipe.seeds
    ]
    return Plan(
        recipe=recipe,
        splits=splits,
        architecture=architecture,
        budget=budget_target(recipe, architecture),
        allocations=allocations,
        jobs=jobs,
    )
