"""From a recipe to its jobs, each with a stable identity: search trials, then seeded runs.

A job's identity is a hash of everything that determines its result (model, data and
its file hashes, training settings, the method's resolved setting, seed, stage) and of
nothing else, so adding a method or a seed to a recipe re-runs only what is new, and a
search that picks the same setting again reuses the seeded runs already stored.

The seeded runs of a searched method are known only once its trials have finished:
`Plan.run_jobs` builds them from the chosen settings.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

from poc_cli import hardware
from poc_cli.budget import (
    Allocation,
    allocate,
    budget_target,
    reference_allocation,
    with_spec,
)
from poc_cli.data import CAP_RULE, SourceFile, Splits, capped, load_splits
from poc_cli.errors import RecipeError
from poc_cli.halving import Rung, first_rung
from poc_cli.halving import cost as halving_cost
from poc_cli.methods import METHODS, get_method
from poc_cli.methods.classical import ClassicalSpec
from poc_cli.methods.zero_shot import ReferenceSpec
from poc_cli.modelhub import (
    Architecture,
    by_module,
    describe,
    load_config,
    resolve_model,
    towers,
)
from poc_cli.preflight import check_checkpointing, check_hardware, check_runnable
from poc_cli.recipe import MethodSpec, Recipe, TrainingSpec
from poc_cli.records.sections import ADDED_LATER, FixedSelection, Selection
from poc_cli.records.status import Stage
from poc_cli.search import Choice, Point, fixed_choice, grid, trial_recipe, trial_seed
from poc_cli.sizing import Sizing, size
from poc_cli.state_memory import states_of
from poc_cli.targets import by_kind
from poc_cli.tasks import Task, checked_task, task_for
from poc_cli.trivial import trivial_name


@dataclass(frozen=True)
class Job:
    """One method at one setting and one seed, in one stage."""

    recipe: Recipe  # as the job sees it: a trial's has the trial length and validation split
    method_index: int  # -1 for the task's reference row (not a method of the recipe)
    method: MethodSpec | ReferenceSpec | ClassicalSpec  # resolved: lr (and alpha_ratio) set
    allocation: Allocation
    seed: int
    sources: tuple[SourceFile, ...]
    stage: Stage = Stage.RUN
    selection: Selection | None = field(default=None, compare=False, hash=False)  # how its setting was chosen
    rung: Rung | None = None  # a halving search's trial: where it stops (part of its identity)
    resume: str | None = field(default=None, compare=False, hash=False)  # the checkpoint it continues from
    gpus: int = 1  # processes the job spans (one per GPU, FSDP2 across them): part of its identity past one

    @cached_property
    def stored(self) -> dict[str, Any]:
        """The job as its record keeps it: the recipe as the job sees it (the record's one copy of the
        training settings, data and model) and what else the job's identity holds (`identity`)."""
        return {
            "recipe": self.recipe.model_dump(mode="json"),
            "data_sha256": [s.sha256 for s in self.sources],
            "method": self.method.model_dump(mode="json", exclude={"search"}),  # lr resolved
            "allocation": self.allocation.to_dict(),
            "seed": self.seed,
            "stage": self.stage.value,
        } | ({"caps": CAP_RULE} if capped(self.recipe.data) else {}) | (
            {"rung": self.rung.to_dict()} if self.rung is not None else {}) | (
            {"gpus": self.gpus} if self.gpus > 1 else {})

    @cached_property
    def spec(self) -> dict[str, Any]:
        """What the job's id hashes (`identity`)."""
        return identity(self.stored)

    @cached_property
    def id(self) -> str:
        return _digest(self.spec)


def identity(stored: dict[str, Any]) -> dict[str, Any]:
    """What a job's id hashes, from the job as its record keeps it (`Job.stored`): everything that
    determines its result (model, data and its file hashes, training settings, the method's resolved
    setting, seed, stage) and nothing else."""
    recipe = stored["recipe"]
    return {
        "model": recipe["model"],
        "task": recipe["task"],
        "data": _identity("data", recipe["data"]),
        # the GPUs a job spans are its own `gpus` (what `auto` resolved to), not the recipe's setting
        "training": _identity("training", {k: v for k, v in recipe["training"].items() if k != "gpus_per_job"}),
        "evaluation": recipe["evaluation"],
        "target_modules": recipe["target_modules"],
    } | {k: v for k, v in stored.items() if k != "recipe"}


def job_id(stored: dict[str, Any]) -> str:
    """The id of the job a record keeps as `stored`: recomputed from a record, it is the record's own."""
    return _digest(identity(stored))


def _digest(spec: dict[str, Any]) -> str:
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _identity(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """A recipe section without the later-added settings at their old values."""
    added = ADDED_LATER[section]
    return {k: v for k, v in values.items() if k not in added or added[k] != v}


def _job(recipe: Recipe, index: int, allocation: Allocation, point: Point, seed: int,
         sources: tuple[SourceFile, ...], stage: Stage, selection: Selection | None = None, gpus: int = 1) -> Job:
    method = point.apply(recipe.methods[index])
    return Job(recipe=recipe, method_index=index, method=method, allocation=with_spec(allocation, method), seed=seed,
               sources=sources, stage=stage, selection=selection, gpus=gpus)


@dataclass(frozen=True)
class Plan:
    """What `poc run` will do, computed without loading any weights."""

    recipe: Recipe
    splits: Splits
    architecture: Architecture
    budget: int
    allocations: list[Allocation]
    trials: dict[int, list[tuple[Point, Job]]]  # method index -> its grid, in grid order
    trial_splits: Splits | None  # what trials train and score on (no test split)
    reference: Job | None = None  # the task's untrained reference row (zero-shot), scored before anything trains
    classical: tuple[Job, ...] = ()  # forecasting's classical rows (AutoETS ...), fitted at the first seed
    notes: tuple[str, ...] = ()  # what the task found in the data (e.g. examples truncated at max_length)
    trivial: str | None = None  # the task's trivial answer (majority-class, seasonal-naive): computed, nothing runs
    sizing: tuple[Sizing, ...] = ()  # each method's GPUs per job (sizing.py), in the recipe's order

    def gpus_of(self, index: int) -> int:
        """GPUs (processes) one job of method `index` spans."""
        return self.sizing[index].gpus if self.sizing else 1

    def sizes_text(self) -> str:
        """The splits' sizes as `poc plan` and `poc doctor` print them, each with what its examples are
        where they are not rows (forecasting: "train 1,200 windows, test 150 series")."""
        nouns = task_for(self.recipe).example_nouns
        labels = f", {len(self.splits.labels)} labels" if self.splits.labels else ""
        return ", ".join(f"{k} {v:,}" + (f" {nouns[k]}" if k in nouns else "")
                         for k, v in self.splits.sizes().items()) + labels

    @property
    def trial_jobs(self) -> list[Job]:
        """Every search trial, method by method."""
        return [job for points in self.trials.values() for _, job in points]

    def search_cost(self, index: int) -> tuple[int, int, int]:
        """(jobs, optimizer steps, a grid's steps) of one method's search, when nothing diverges."""
        points = self.trials[index]
        rung = points[0][1].rung
        if rung is None:
            steps = total_steps_of(points[0][1].recipe.training, self.trial_splits)
            return len(points), len(points) * steps, len(points) * steps
        jobs, steps = halving_cost(len(points), rung.total)
        return jobs, steps, len(points) * rung.total

    def edge_steps(self, index: int) -> int:
        """Trials the search may add beyond the ends of a method's grid (none with one learning rate)."""
        assert self.recipe.search is not None
        return self.recipe.search.edge_steps if len({p.lr for p, _ in self.trials[index]}) > 1 else 0

    @property
    def trial_count(self) -> int:
        """Trial jobs the search will run (a halving search's later rungs included)."""
        return sum(self.search_cost(index)[0] for index in self.trials)

    @property
    def run_count(self) -> int:
        """Seeded runs: methods x seeds, plus the reference row."""
        return len(self.allocations) * len(self.recipe.seeds) + (self.reference is not None) + len(self.classical)

    def run_jobs(self, choices: dict[int, Choice]) -> list[Job]:
        """The reference row, then the seeded runs of every method with a setting: not searched, or
        chosen in `choices`."""
        jobs = ([self.reference] if self.reference is not None else []) + list(self.classical)
        for index, spec in enumerate(self.recipe.methods):
            choice = choices.get(index) or (None if index in self.trials else fixed_choice(spec))
            if choice is not None:
                jobs += self.method_runs(index, choice)
        return jobs

    def stand_in_runs(self) -> list[Job]:
        """The seeded runs with each searched method at its first grid point: what sizing and
        profiling build and time, since the learning rate does not change the cost."""
        return self.run_jobs({i: Choice(points[0][0], {}) for i, points in self.trials.items()})

    def added_trial(self, index: int, point: Point) -> Job:
        """A trial the search adds beyond its grid's edge (`edges.py`): a full-length trial at `point`, the
        same job as a grid search's trial there."""
        first = self.trials[index][0][1]
        return _job(first.recipe, index, self.allocations[index], point, first.seed, first.sources, Stage.TRIAL,
                    gpus=first.gpus)

    def method_runs(self, index: int, choice: Choice) -> list[Job]:
        """One method's seeded runs at `choice`."""
        return [_job(self.recipe, index, self.allocations[index], choice.point, seed, self.splits.sources, Stage.RUN,
                     choice.selection, self.gpus_of(index)) for seed in self.recipe.seeds]

    def adapter_by_module(self, allocation: Allocation) -> dict[str, int]:
        """A fitted method's adapter parameters per top-level module (tower); empty for the others."""
        method = get_method(allocation.method)
        if not method.FITTED:
            return {}
        spec = next(m for m in self.recipe.methods if m.label == allocation.label)
        return {name: method.count(part, allocation.r, spec) for name, part in by_module(self.architecture).items()}

    def to_dict(self) -> dict[str, Any]:
        """The plan as `poc plan --json` prints it."""
        return {
            "recipe": self.recipe.name,
            "model": self.recipe.model,
            "task": self.recipe.task,
            "data": {
                "sizes": self.splits.sizes(),
                "labels": list(self.splits.labels),
                "sources": [asdict(s) for s in self.splits.sources],
            },
            "training": self.recipe.training.model_dump(mode="json"),  # precision resolved (auto: what it means here)
            "budget_parameters": self.budget,
            "tolerance": self.recipe.budget.tolerance,
            "head": {"modules": list(self.architecture.head_modules), "parameters": self.architecture.head_parameters},
            "full_model_parameters": self.architecture.total_parameters,
            "target_layers": len(self.architecture.layers),
            "target_layers_by_module": towers(self.architecture),
            "target_layers_by_kind": by_kind(self.architecture.layers),
            "left_out_layers": dict(self.architecture.left_out),
            "notes": list(self.notes),
            "reference": None if self.reference is None else {
                "id": self.reference.id, "method": self.reference.allocation.label, "seed": self.reference.seed,
                "trainable_parameters": 0},
            "trivial": self.trivial,
            "classical": [{"id": job.id, "method": job.allocation.label, "seed": job.seed,
                           "settings": job.allocation.settings} for job in self.classical],
            "methods": [
                {
                    "name": a.label,
                    "method": a.method,
                    "settings": a.settings,
                    "adapter_parameters": a.adapter_parameters,
                    "trainable_parameters": a.trainable_parameters,
                    "percent_of_full": a.percent_of_full,
                    "deviation": a.deviation,
                    "off_budget": a.off_budget,
                    "share_of_budget": a.adapter_parameters / a.budget if a.budget and a.deviation is not None else None,
                    "frozen_parameters": a.frozen_parameters,
                    "adapter_by_module": self.adapter_by_module(a),
                    "seeds": list(self.recipe.seeds),
                    "gpus_per_job": self.gpus_of(index),
                    "sizing": self.sizing[index].to_dict() if self.sizing else None,
                }
                for index, a in enumerate(self.allocations)
            ],
            "search": None if self.recipe.search is None else {
                **self.recipe.search.model_dump(mode="json"),
                "seed": trial_seed(self.recipe),
                "sizes": self.trial_splits.sizes() if self.trial_splits else None,
            },
            "trials": [{"id": j.id, "method": j.allocation.label, "lr": p.lr, "alpha_ratio": p.alpha_ratio,
                        "seed": j.seed, "rung": j.rung.to_dict() if j.rung else None}
                       for points in self.trials.values() for p, j in points],  # a halving search's first rung
            "runs": [{"id": j.id, "method": j.allocation.label, "seed": j.seed} for j in self.run_jobs({})]
            + [{"id": None, "method": self.allocations[i].label, "seed": seed, "setting": "chosen by the search"}
               for i in self.trials for seed in self.recipe.seeds],
        }


def resolved(recipe: Recipe, precision: str) -> Recipe:
    """The recipe with `training.precision: auto` replaced by what it means where the jobs run: the
    jobs' identities and records name the precision they ran at."""
    training = recipe.training.model_copy(update={"precision": precision})
    return recipe.model_copy(update={"training": training})


def total_steps_of(training: TrainingSpec, splits: Splits | None) -> int:
    """Optimizer steps of one job training on `splits`' train split."""
    from poc_cli.train import total_steps

    assert splits is not None
    return total_steps(training, math.ceil(len(splits.train) / training.batch_size))


def _first_rung(recipe: Recipe, training: TrainingSpec, splits: Splits) -> Rung | None:
    """Where a halving search's trials first stop (None: a grid search, or too few steps to halve)."""
    assert recipe.search is not None
    if recipe.search.strategy != "halving":
        return None
    return first_rung(total_steps_of(training, splits))


def make_plan(recipe: Recipe, facts: Callable[[TrainingSpec], hardware.Facts] = hardware.facts) -> Plan:
    """Validate hardware (`facts` of the machine the jobs run on), data, model and budget; expand the
    trials. Every failure is a RecipeError."""
    found = facts(recipe.training)
    check_hardware(recipe, found)
    recipe = resolved(recipe, found.precision)  # type: ignore[arg-type]  # no problems: resolved
    task = checked_task(recipe)
    splits = load_splits(recipe.data, task)
    source = resolve_model(recipe.model)
    config = load_config(task, source, splits.labels, field_value=recipe.model)
    skeleton = task.skeleton(config)
    check_checkpointing(recipe, skeleton)
    architecture = describe(skeleton, recipe.target_modules, task)
    allocations = allocate(recipe, architecture)
    sizing = size(recipe, states_of(recipe.training, architecture, allocations), found)
    notes = tuple(task.inspect(splits, source, config, recipe.training)) + tuple(
        note for spec, a in zip(recipe.methods, allocations) if hasattr(get_method(spec.method), "notes")
        for note in get_method(spec.method).notes(architecture, spec, a.r))
    reference = None
    if task.reference is not None:  # deterministic: scored once, at the first seed
        reference = _reference_job(recipe, ReferenceSpec(method=task.reference), architecture, splits)
    classical = tuple(_reference_job(recipe, ClassicalSpec(method=name), architecture, splits)  # type: ignore[arg-type]
                      for name in classical_references(recipe, task))
    trials: dict[int, list[tuple[Point, Job]]] = {}
    trial_splits = None
    if recipe.search is not None:
        seen_by_trials = trial_recipe(recipe)
        trial_splits = load_splits(seen_by_trials.data, task, include_test=False)
        rung = _first_rung(recipe, seen_by_trials.training, trial_splits)
        for index in recipe.searched:
            points = grid(recipe.methods[index])
            trials[index] = [
                (point, replace(_job(seen_by_trials, index, allocations[index], point, trial_seed(recipe),
                                     trial_splits.sources, Stage.TRIAL, gpus=sizing[index].gpus),
                                rung=rung if len(points) > 1 else None))
                for point in points
            ]
    check_runnable(recipe, task, config, splits, trial_splits)
    return Plan(
        recipe=recipe,
        splits=splits,
        architecture=architecture,
        budget=budget_target(recipe, architecture),
        allocations=allocations,
        trials=trials,
        trial_splits=trial_splits,
        reference=reference,
        classical=classical,
        notes=notes,
        trivial=trivial_name(task.name),
        sizing=sizing,
    )


def _reference_job(recipe: Recipe, spec: ReferenceSpec | ClassicalSpec, architecture: Architecture,
                   splits: Splits) -> Job:
    """A reference row's one job: deterministic, so run once, at the first seed."""
    return Job(recipe=recipe, method_index=-1, method=spec, allocation=reference_allocation(spec, recipe, architecture),
               seed=recipe.seeds[0], sources=splits.sources, stage=Stage.RUN, selection=FixedSelection(how="reference"))


def classical_references(recipe: Recipe, task: Task) -> list[str]:
    """The classical rows to fit (the recipe's `references`, else the task's default), in the task's order;
    seasonal naive is the trivial row, computed and never fitted. RecipeError where their library is missing."""
    asked = recipe.references if recipe.references is not None else task.default_references
    fitted = [name for name in task.references if name in asked and name in METHODS]
    if fitted and (missing := get_method(fitted[0]).unsupported()) is not None:
        raise RecipeError(f"references: {', '.join(fitted)}: {missing}; or set references: [seasonal_naive]")
    return fitted
