"""`poc plan`: the jobs, their budget and the estimated duration and memory."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from poc_cli.commands.common import (
    RecipeArg,
    console,
    err_console,
    fail,
)
from poc_cli.errors import PocError
from poc_cli.numbers import duration, mib
from poc_cli.recipe import load_recipe
from poc_cli.render.plan import (
    NARROW,
    memory_notes,
    plan_table,
    search_note,
    gpu_sizing_table,
    search_table,
    seeds_line,
    sizing_table,
    state_memory_table,
    training_line,
)
from poc_cli.safe_text import esc, plain

if TYPE_CHECKING:
    from poc_cli.estimate import Estimate
    from poc_cli.hardware import Facts
    from poc_cli.plan import Plan
    from poc_cli.recipe import TrainingSpec


def print_plan(plan: Plan) -> None:
    from poc_cli.modelhub import towers
    from poc_cli.targets import by_kind

    arch = plan.architecture
    kinds = by_kind(arch.layers)
    console.print(
        f"model [bold]{esc(plan.recipe.model)}[/] ({arch.total_parameters:,} parameters, "
        f"{len(arch.layers)} target layers"
        + (f" ({', '.join(f'{n} {kind}' for kind, n in kinds.items())})" if len(kinds) > 1 or "Linear" not in kinds
           else "")
        + ": " + ", ".join(f"{n} in {esc(module)}" for module, n in towers(arch).items())
        + f")  task {plan.recipe.task}  data: " + plan.sizes_text(),
        highlight=False,
    )
    for reason, n in arch.left_out:
        console.print(f"[yellow]note:[/] {n} layer(s) left out of the targets: {esc(reason)}", highlight=False)
    console.print(
        f"budget [bold]{plan.budget:,}[/] adapter parameters, tolerance {plan.recipe.budget.tolerance:.0%}",
        highlight=False,
    )
    console.print(plain(training_line(plan.recipe.training)), highlight=False)
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {esc(note)}", highlight=False)
    console.print(plan_table(plan, console.width))
    if console.width < NARROW:
        console.print(seeds_line(plan), highlight=False)
    for note in memory_notes(plan):
        console.print(f"[dim]{esc(note)}[/]", highlight=False)
    reference = (f" + the {esc(plan.reference.allocation.label)} reference" if plan.reference is not None else "") + (
        f" + {len(plan.classical)} classical forecast(s), fitted once" if plan.classical else "")
    if len(towers(plan.architecture)) > 1:
        for allocation in plan.allocations:
            split = plan.adapter_by_module(allocation)
            if split:
                console.print(plain(f"  {allocation.label} by module: "
                                    + ", ".join(f"{m} {n:,}" for m, n in split.items())), highlight=False)
    if plan.trials:
        console.print(search_table(plan))
        console.print(search_note(plan), highlight=False)
        more = sum(plan.edge_steps(index) for index in plan.trials)
        console.print(f"{plan.trial_count} trial jobs" + (f" (up to {more} more beyond the grids' edges)" if more else "")
                      + f", then {plan.run_count} seeded run(s) (methods x seeds{reference}) at each method's chosen "
                      "setting", highlight=False)
    else:
        console.print(f"{plan.run_count} jobs (methods x seeds{reference})", highlight=False)


def _load_plan(recipe_path: Path, gpu_memory: float | None, node_gpus: int | None) -> Plan:
    try:
        recipe = load_recipe(recipe_path)
        from poc_cli.plan import make_plan
        return make_plan(recipe, facts=_sized_for(gpu_memory, node_gpus))
    except PocError as error:
        fail(error)


def _sized_for(gpu_memory: float | None, node_gpus: int | None) -> Callable[[TrainingSpec], Facts]:
    """This machine's facts, with the GPUs `--gpu-memory` and `--node-gpus` describe where the plan is made
    for a machine that is not this one (sizing only: what runs here still runs here)."""
    from poc_cli import hardware

    def found(training: TrainingSpec) -> Facts:
        here = hardware.facts(training)
        return replace(here, gpu_memory_mib=here.gpu_memory_mib if gpu_memory is None else gpu_memory * 1024,
                       gpus=here.gpus if node_gpus is None else node_gpus)
    return found


def print_estimate(found: Estimate) -> None:
    console.print(sizing_table(found))
    stages = (f"trials {duration(found.trials_s, 'en')} + seeded runs {duration(found.runs_s, 'en')} = "
              if found.trials_s else "")
    console.print(f"estimated duration on {found.device}: {stages}[bold]{duration(found.total_s, 'en')}[/] "
                  f"(start-up {found.startup_s:.1f} s once, then {found.job_start_s:.2f} s per job)"
                  + (f"; without {', '.join(esc(label) for label in found.not_timed)} (jobs across GPUs, "
                     "not warmed up)" if found.not_timed else ""), highlight=False)
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
    gpu_memory: float = typer.Option(None, "--gpu-memory", min=1, max=4096, metavar="GIB",
                                     help="Size GPUs per job for GPUs of this memory (GiB), not this machine's."),
    node_gpus: int = typer.Option(None, "--node-gpus", min=1, max=64,
                                  help="Check GPUs per job against machines with this many GPUs."),
) -> None:
    """Show what will run and at what trainable-parameter budget, and estimate how long it takes."""
    the_plan = _load_plan(recipe, gpu_memory, node_gpus)
    found = None
    if with_estimate:
        from poc_cli.estimate import estimate
        try:
            found = estimate(the_plan, on_method=lambda label, n, of: err_console.print(
                f"warming up {esc(label)} ({n} of {of})", highlight=False))
        except PocError as error:
            fail(error)
        except Exception as exc:  # the warm-up loads weights and trains: report it, never a traceback
            first = str(exc).splitlines()[0] if str(exc) else ""
            fail(PocError(f"estimate: the warm-up failed ({type(exc).__name__}: {first}); --no-estimate skips it"))
    from poc_cli.state_memory import state_memory
    arithmetic = state_memory(the_plan)
    if as_json:
        payload = {**the_plan.to_dict(), "memory_arithmetic": [m.to_dict() for m in arithmetic],
                   "estimate": found.to_dict() if found else None}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    print_plan(the_plan)
    console.print(state_memory_table(arithmetic, the_plan.recipe.training))
    gpus = gpu_sizing_table(the_plan)
    if gpus is not None:
        console.print(gpus)
    if found is not None:
        print_estimate(found)
