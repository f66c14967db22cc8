"""`poc plan`: the jobs, their budget and the estimated duration and memory."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from poc_cli.commands.common import (
    RecipeArg,
    console,
    err_console,
    fail,
)
from poc_cli.errors import PocError
from poc_cli.numbers import duration, mib
from poc_cli.recipe import TrainingSpec, load_recipe
from poc_cli.safe_text import esc, plain
from poc_cli.search import trial_seed
from poc_cli.tasks import search_metric

if TYPE_CHECKING:
    from poc_cli.budget import Allocation
    from poc_cli.estimate import Estimate
    from poc_cli.plan import Plan


def plan_table(plan: Plan) -> Table:
    """The job table: method, configuration, trainable parameters, share, deviation, seeds."""
    from poc_cli.formatting import config_text
    table = Table(title=plain(f"Plan: {plan.recipe.name}"), title_justify="left")
    for column, justify in [("method", "left"), ("configuration", "left"), ("learning rate", "left"),
                            ("trainable\n(adapter)", "right"), ("% of\nmodel", "right"), ("vs\nbudget", "right"),
                            ("seeds", "left")]:
        # Numbers never wrap or get cut; text columns fold instead.
        table.add_column(column, justify=justify, no_wrap=justify == "right", overflow="fold")  # type: ignore[arg-type]
    for index, a in enumerate(plan.allocations):
        spec = plan.recipe.methods[index]
        searched = index in plan.trials
        shown = {k: v for k, v in a.settings.items() if not (searched and k == "alpha" and len(
            {p.alpha_ratio for p, _ in plan.trials[index]}) > 1)}
        table.add_row(
            plain(a.label),
            config_text(a.method, shown, None, all_parameters="all parameters", nothing_trained="nothing trained"),
            "chosen by the search" if searched else f"{spec.learning_rate:g} ({'recipe' if spec.lr else 'default'})",
            f"{a.adapter_parameters:,}",
            f"{100 * a.adapter_parameters / a.total_parameters:.2f}%",
            deviation_text(a),
            ", ".join(map(str, plan.recipe.seeds)),
        )
    head = plan.architecture
    if head.head_modules:
        table.add_row(
            plain(f"+ head ({', '.join(head.head_modules)})"), "trained by every method", "", f"{head.head_parameters:,}",
            f"{100 * head.head_parameters / head.total_parameters:.3f}%", "", "", style="dim",
        )
    if plan.reference is not None:
        table.add_row(plain(plan.reference.allocation.label), "the pretrained model, not trained (reference)", "-", "0",
                      "0.00%", "reference", str(plan.reference.seed), style="dim")
    if plan.trivial is not None:
        table.add_row(plain(plan.trivial), "computed from the test data, nothing runs (reference)", "-", "0", "0.00%",
                      "reference", "-", style="dim")
    return table


def deviation_text(a: Allocation) -> str:
    """The plan's budget column: the deviation, or the share of the budget an off-budget method reaches."""
    if a.deviation is None:
        return "reference"
    if a.off_budget and a.budget:
        return f"off budget: {a.adapter_parameters / a.budget:.1%} of it"
    return f"{a.deviation:+.2%}"


def _memory_notes(plan: Plan) -> list[str]:
    """Frozen matrices a method adds (VeRA's shared projections): counted as memory, as peft counts them."""
    return [f"{a.label}: shared frozen matrices of {a.frozen_parameters:,} parameters "
            f"({a.frozen_parameters * 4 / 2**20:,.1f} MiB in fp32) are memory, not trainable parameters"
            for a in plan.allocations if a.frozen_parameters]


def training_line(training: TrainingSpec) -> str:
    """How every job computes: precision, memory savers, the effective batch."""
    accumulate = training.gradient_accumulation_steps
    batch = (f"batch {training.batch_size} x {accumulate} accumulated = {training.effective_batch_size} per step"
             if accumulate > 1 else f"batch {training.batch_size}")
    return (f"training: {training.precision} on {training.device}, {batch}, gradient checkpointing "
            f"{'on' if training.gradient_checkpointing else 'off'}, quantization {training.quantization}")


def search_table(plan: Plan) -> Table:
    """Stage 1: each searched method's grid and its trial count."""
    table = Table(title="Stage 1: search", title_justify="left")
    for column in ("method", "learning rates", "alpha_ratio", "points", "jobs", "steps (vs a grid)"):
        table.add_column(column)
    for index, points in plan.trials.items():
        alphas = sorted({p.alpha_ratio for p, _ in points if p.alpha_ratio is not None})
        jobs, steps, grid_steps = plan.search_cost(index)
        table.add_row(plain(plan.allocations[index].label), ", ".join(f"{lr:g}" for lr in sorted({p.lr for p, _ in points})),
                      ", ".join(f"{a:g}" for a in alphas) or "-", str(len(points)), str(jobs),
                      f"{steps:,} ({steps / grid_steps:.0%})")
    return table


def _search_note(plan: Plan) -> str:
    """How the trials train and score."""
    search = plan.recipe.search
    assert search is not None and plan.trial_splits is not None
    sizes = plan.trial_splits.sizes()
    length = (f"{search.steps} steps" if search.steps else f"{search.epochs} epoch(s)" if search.epochs
              else "as long as the seeded runs")
    note = (f"Each trial (seed {trial_seed(plan.recipe)}) trains on {sizes['train']:,} examples, {length}, and "
            f"scores {search_metric(plan.recipe)} on {sizes['validation']:,} validation examples; the test split is never read.")
    rung = next((job.rung for points in plan.trials.values() for _, job in points if job.rung), None)
    if rung is not None:
        from poc_cli.halving import stops
        note += (f" Halving: every point starts on the full {rung.total}-step schedule; at steps "
                 f"{', '.join(map(str, stops(rung.total)[:-1]))} only the best third on validation goes on, and the "
                 "choice is made on full-length scores.")
    if search.steps or search.epochs:
        note += (" Trials shorter than the seeded runs can favour a learning rate the full schedule cannot take; "
                 "the report flags a setting whose seeded runs fall short of its trial.")
    return note


def print_plan(plan: Plan) -> None:
    from poc_cli.modelhub import towers
    console.print(
        f"model [bold]{esc(plan.recipe.model)}[/] ({plan.architecture.total_parameters:,} parameters, "
        f"{len(plan.architecture.layers)} target layers: "
        + ", ".join(f"{n} in {esc(module)}" for module, n in towers(plan.architecture).items())
        + f")  task {plan.recipe.task}  data: " + plan.sizes_text(),
        highlight=False,
    )
    console.print(
        f"budget [bold]{plan.budget:,}[/] adapter parameters, tolerance {plan.recipe.budget.tolerance:.0%}",
        highlight=False,
    )
    console.print(plain(training_line(plan.recipe.training)), highlight=False)
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {esc(note)}", highlight=False)
    console.print(plan_table(plan))
    for note in _memory_notes(plan):
        console.print(f"[dim]{esc(note)}[/]", highlight=False)
    reference = f" + the {esc(plan.reference.allocation.label)} reference" if plan.reference is not None else ""
    if len(towers(plan.architecture)) > 1:
        for allocation in plan.allocations:
            split = plan.adapter_by_module(allocation)
            if split:
                console.print(plain(f"  {allocation.label} by module: "
                                    + ", ".join(f"{m} {n:,}" for m, n in split.items())), highlight=False)
    if plan.trials:
        console.print(search_table(plan))
        console.print(_search_note(plan), highlight=False)
        console.print(f"{plan.trial_count} trial jobs, then {plan.run_count} seeded run(s) (methods x seeds{reference}) "
                      "at each method's chosen setting", highlight=False)
    else:
        console.print(f"{plan.run_count} jobs (methods x seeds{reference})", highlight=False)


def _load_plan(recipe_path: Path) -> Plan:
    try:
        recipe = load_recipe(recipe_path)
        from poc_cli.plan import make_plan
        return make_plan(recipe)
    except PocError as error:
        fail(error)


def sizing_table(found: Estimate) -> Table:
    """Each method's measured step time and peak memory on the recipe's device and precision."""
    capacity = f"{mib(found.capacity_mib)} MiB" if found.capacity_mib is not None else "unknown"
    table = Table(title=f"Sizing: {found.device} at {found.precision}", title_justify="left",
                  caption=plain(f"peak memory: {found.memory_scope}; the device has {capacity}"), caption_justify="left")
    for column in ("method", "step", "peak memory", "fits"):
        table.add_column(column)
    for label, timing in found.methods.items():
        fits = timing.fits(found.capacity_mib)
        peak = ("out of memory" if timing.out_of_memory is not None else "not measured"
                if timing.peak_memory_mib is None else f"{mib(timing.peak_memory_mib)} MiB")
        table.add_row(plain(label), f"{timing.step_s:.3g} s" if timing.step_s else "no training", peak,
                      "?" if fits is None else "[green]yes[/]" if fits else "[red]no[/]")
    return table


def print_estimate(found: Estimate) -> None:
    console.print(sizing_table(found))
    stages = (f"trials {duration(found.trials_s, 'en')} + seeded runs {duration(found.runs_s, 'en')} = "
              if found.trials_s else "")
    console.print(f"estimated duration on {found.device}: {stages}[bold]{duration(found.total_s, 'en')}[/] "
                  f"(start-up {found.startup_s:.1f} s once, then {found.job_start_s:.2f} s per job)", highlight=False)
    for label in found.too_large:
        timing = found.methods[label]
        what = (f"ran out of memory in the warm-up ({timing.out_of_memory})" if timing.out_of_memory is not None
                else f"peaked at {mib(timing.peak_memory_mib)} MiB in the warm-up, more than the "
                f"{mib(found.capacity_mib)} MiB of {found.device}")
        err_console.print(plain(
            f"warning: {label} {what}: lower training.batch_size or max_length, or set "
            "training.gradient_checkpointing or gradient_accumulation_steps"), highlight=False, soft_wrap=True)


def plan(
    recipe: Path = RecipeArg,
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    with_estimate: bool = typer.Option(True, "--estimate/--no-estimate",
                                       help="Time a few training steps of each method to estimate the duration."),
) -> None:
    """Show what will run and at what trainable-parameter budget, and estimate how long it takes."""
    the_plan = _load_plan(recipe)
    found = None
    if with_estimate:
        from poc_cli.estimate import estimate
        try:
            found = estimate(the_plan)
        except PocError as error:
            fail(error)
        except Exception as exc:  # the warm-up loads weights and trains: report it, never a traceback
            first = str(exc).splitlines()[0] if str(exc) else ""
            fail(PocError(f"estimate: the warm-up failed ({type(exc).__name__}: {first}); --no-estimate skips it"))
    if as_json:
        payload = {**the_plan.to_dict(), "estimate": found.to_dict() if found else None}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    print_plan(the_plan)
    if found is not None:
        print_estimate(found)
