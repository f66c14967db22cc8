"""The `poc` command line: parse, call one library function, render with Rich.

Only this module (and the report layer) prints. Errors a user can act on are one line
on stderr with exit code 2 for usage and recipe errors, 1 otherwise; never a traceback.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from poc_cli import __version__
from poc_cli.advice import advice
from poc_cli.cost import Price
from poc_cli.errors import PocError, RecipeError, UsageError, clip, first_line
from poc_cli.lock import StoreBusy, recipe_lock
from poc_cli.numbers import duration, mib
from poc_cli.paths import writable_folder
from poc_cli.recipe import Recipe, TrainingSpec, load_recipe
from poc_cli.result import Stage, Status
from poc_cli.safe_text import esc, plain
from poc_cli.search import trial_seed
from poc_cli.store import DEFAULT_STORE, Scan, Store
from poc_cli.tasks import search_metric, task_for

# What plans, trains, compares and reports imports torch, transformers and peft (seconds); each
# command imports it when it runs, so that `poc --help` and a recipe with a typo answer at once.
if TYPE_CHECKING:
    import pandas as pd

    from poc_cli.budget import Allocation
    from poc_cli.compare import MethodRow
    from poc_cli.doctor import Check
    from poc_cli.estimate import Estimate
    from poc_cli.executors import Executor
    from poc_cli.launcher import Outcome, RunResult
    from poc_cli.plan import Job, Plan

app = typer.Typer(
    help="Measure whether RandLoRA pays off against LoRA and full fine-tuning, on your model and data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help, as CLIs print it: flags as flags, paragraphs wrapped to the terminal
)
console = Console()
err_console = Console(stderr=True)

RecipeArg = typer.Argument(..., help="Path to the recipe YAML file.", show_default=False)
StoreOpt = typer.Option(DEFAULT_STORE, "--store", help="Results folder (created if missing).")
StrictOpt = typer.Option(False, "--strict", help="Stop (exit 1) if any record in the store cannot be read.")


MAX_ERROR = 600  # a message quoting what a user wrote never floods the terminal (recipe errors: 300 after the path)


def fail(error: PocError) -> NoReturn:
    """Print a user error as one line and exit with its code."""
    text = clip(" ".join(str(error).split("\n")), MAX_ERROR)
    err_console.print(Text.assemble(("error: ", "bold red"), plain(text)), highlight=False, soft_wrap=True)
    raise typer.Exit(error.exit_code)


def _version(value: bool) -> None:
    if value:
        console.print(f"poc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """poc: matched-budget PoCs of LoRA, RandLoRA and full fine-tuning."""


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


def _print_plan(plan: Plan) -> None:
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


def _print_estimate(found: Estimate) -> None:
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


@app.command(short_help="Show the jobs, their budget and the estimated duration and memory.")
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
    _print_plan(the_plan)
    if found is not None:
        _print_estimate(found)


def _outcome_table(outcomes: list[Outcome], store: Store, metrics: list[str]) -> Table:
    table = Table(title="Results", title_justify="left")
    for column in ("method", "seed", "lr", "status", *metrics, "train time", "note"):
        table.add_column(column)
    for o in outcomes:
        rec = store.read(o.job.recipe.name, o.job.id) or {}
        test = rec.get("metrics", {}).get("test", {})
        lr = o.job.method.learning_rate
        style = "green" if o.status is Status.OK else "red"
        note = "done before, skipped" if o.skipped else (o.error or "")
        if rec.get("warnings"):
            note = (note + "; " if note else "") + "; ".join(rec["warnings"])
        table.add_row(
            plain(o.job.allocation.label), str(o.job.seed), "-" if lr is None else f"{lr:g}",
            f"[{style}]{o.status.value}[/]",
            *[f"{test[m]:.3f}" if m in test else "-" for m in metrics],
            f"{rec['timing']['train_s']:.1f} s" if rec.get("timing", {}).get("train_s") else "-",
            plain(note),
        )
    return table


def _job_name(job: Job) -> str:
    if job.stage is Stage.TRIAL:
        alpha = getattr(job.method, "alpha_ratio", None)
        alpha_text = f", alpha_ratio {alpha:g}" if alpha is not None else ""
        return f"{job.allocation.label} trial lr {job.method.learning_rate:g}{alpha_text}"
    return f"{job.allocation.label} seed {job.seed}"


def _trials_table(result: RunResult, plan: Plan, store: Store) -> Table:
    """Stage 1's outcome: every trial's score (each rung's, in a halving search), the chosen one marked."""
    picked = {(i, c.point) for i, c in result.chosen.items()}
    metric = search_metric(plan.recipe)
    table = Table(title=f"Search trials: validation {metric}", title_justify="left")
    for column in ("method", "lr", "alpha_ratio", "steps", "status", f"validation {metric}", "chosen", "note"):
        table.add_column(column)
    points = {(i, job.method.model_dump_json()): point for i, pts in plan.trials.items() for point, job in pts}
    for o in result.trials:
        rec = store.read(o.job.recipe.name, o.job.id, Stage.TRIAL) or {}
        score = rec.get("metrics", {}).get("validation", {}).get(metric)
        point = points[(o.job.method_index, o.job.method.model_dump_json())]
        rung = o.job.rung
        final = rung is None or rung.final
        style = {Status.OK: "green", Status.DIVERGED: "yellow"}.get(o.status, "red")
        table.add_row(
            plain(o.job.allocation.label), f"{point.lr:g}", f"{point.alpha_ratio:g}" if point.alpha_ratio else "-",
            "all" if rung is None else f"{rung.stop_at}/{rung.total}",
            f"[{style}]{o.status.value}[/]", f"{score:.3f}" if score is not None else "-",
            "[bold]<- chosen[/]" if final and (o.job.method_index, point) in picked else "",
            plain("done before, skipped" if o.skipped else (o.error or "")),
        )
    return table


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _shell_word(value: str) -> str:
    """`value` as one shell word a user can paste: quoted, and with control characters written as
    bash's $'\\xHH' escapes (never raw, so nothing reaches the terminal as an escape sequence)."""
    if value.isprintable():
        return shlex.quote(value)
    body = "".join(ch if ch.isprintable() and ch not in "'\\" else f"\\x{ord(ch):02x}" if ord(ch) < 256
                   else f"\\u{ord(ch):04x}" for ch in value)
    return f"$'{body}'"


def _print_next(recipe_name: str, store: Path) -> None:
    """The commands that read what this run stored, ready to paste (quoted for the shell)."""
    where = f"--store {_shell_word(str(store))} --recipe {_shell_word(recipe_name)}"
    console.print(Text("next:\n"
                       f"  poc compare {where}\n"
                       f"  poc report {where} --format html\n"
                       f"  poc report {where} --format html --lang ja"), soft_wrap=True)  # never broken mid-command


def _job_progress(progress: Progress) -> tuple[Any, Any]:
    """Callbacks that keep one progress line per running job (its device or node, phase, step and
    loss) and drop it when the job ends; jobs report from several threads at once."""
    lock = threading.Lock()
    lines: dict[tuple[Stage, str], tuple[Any, str]] = {}  # job -> (progress task, where it runs)

    def on_event(job: Job, event: dict[str, Any]) -> None:
        key = (job.stage, job.id)
        with lock:
            if event["event"] == "start" or key not in lines:
                where = f" \\[{esc(str(event['where']))}]" if event.get("where") else ""  # brackets as text
                lines[key] = (progress.add_task(f"{esc(_job_name(job))}{where}", total=None, info=""), where)
            task, where = lines[key]
            if event["event"] == "phase":
                progress.update(task, description=f"{esc(_job_name(job))}{where}: {event['phase']}", info="")
                if event["phase"] == "train":
                    progress.reset(task, total=None)
            elif event["event"] == "step":
                progress.update(task, completed=event["step"], total=event["total"], info=f"loss {event['loss']:.3f}")

    def ended(outcome: Outcome) -> None:
        with lock:
            line = lines.pop((outcome.job.stage, outcome.job.id), None)
            if line is not None:
                progress.remove_task(line[0])

    return on_event, ended


@app.command(short_help="Run every job of the recipe and store the results.")
def run(recipe: Path = RecipeArg, store: Path = StoreOpt,
        wait: bool = typer.Option(False, "--wait", help="If another run of this recipe holds the store, wait for it "
                                                          "instead of stopping."),
        executor: str = typer.Option("local", "--executor", help="Where the jobs run: local (this machine) or ray "
                                                                   "(a Ray cluster)."),
        parallel: int = typer.Option(1, "--parallel", help="local, CPU: this many jobs at once, sharing the cores "
                                                            "equally."),
        gpus: str | None = typer.Option(None, "--gpus", help="local: one job per listed GPU at once, e.g. 0,1,2,3, "
                                                              "each pinned with CUDA_VISIBLE_DEVICES."),
        ray_address: str | None = typer.Option(None, "--ray-address", help="ray: auto (this machine's cluster, or "
                                                                            "a new local one) or ray://host:port."),
        gpus_per_job: float | None = typer.Option(None, "--gpus-per-job", help="ray: GPUs per job, 0 or 1 (default: 1 "
                                                                                "where the cluster has GPUs, else 0)."),
        cpus_per_job: float | None = typer.Option(None, "--cpus-per-job", help="ray: CPUs per job (default 1); the "
                                                                                "job uses as many threads."),
        artifacts: Path | None = typer.Option(None, "--artifacts", help="ray: save adapters in this folder (storage "
                                                                         "the nodes share) instead of sending them "
                                                                         "back.")) -> None:
    """Run every job of the recipe (methods x seeds), each in its own process, and store the results.

    Jobs already stored as ok are skipped; failed or interrupted ones run again. One run of a
    recipe at a time writes to a store: a second one stops, naming the first (or waits, --wait).
    Where the jobs run (--executor, --parallel, --gpus) is not part of their identity.
    """
    from poc_cli.executors.choose import Where, open_executor

    try:
        writable_folder(store, "--store")  # before the plan reads any data: a bad path fails in a second
        the_recipe = load_recipe(recipe)
        where = Where(executor=executor, parallel=parallel, gpus=gpus, ray_address=ray_address,
                      gpus_per_job=gpus_per_job, cpus_per_job=cpus_per_job, artifacts=artifacts)
        the_executor = open_executor(where, the_recipe.training)
    except PocError as error:
        fail(error)
    try:
        _run_on(the_executor, recipe, the_recipe, store, wait)
    finally:
        the_executor.close()


def _run_on(the_executor: Executor, recipe: Path, the_recipe: Recipe, store: Path, wait: bool) -> None:
    from poc_cli.launcher import DiskFull, run_plan
    from poc_cli.plan import make_plan

    try:
        the_plan = make_plan(the_recipe, facts=the_executor.facts)
    except PocError as error:
        fail(error)
    _print_plan(the_plan)
    if the_executor.slots > 1 or the_executor.name != "local":
        console.print(plain(f"executor: {the_executor.name}, {the_executor.slots} job(s) at once"), highlight=False)
    the_store = Store(store)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # `kill` stops as cleanly as Ctrl-C
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"), console=console,
    )
    overall = progress.add_task("jobs", total=the_plan.trial_count + the_plan.run_count, info="")
    on_event, ended = _job_progress(progress)

    def on_outcome(outcome: Outcome) -> None:
        ended(outcome)
        progress.advance(overall)
        if not outcome.skipped and outcome.status is not Status.OK:
            colour = "yellow" if outcome.status is Status.DIVERGED else "red"
            progress.console.print(f"[{colour}]{esc(_job_name(outcome.job))}: {outcome.status.value}[/] "
                                   f"{esc(outcome.error or '')}", highlight=False)

    def on_wait(holder: str) -> None:
        err_console.print(Text(f"waiting: the store is in use by {holder}"), soft_wrap=True)

    try:
        with recipe_lock(the_store.recipe_dir(the_plan.recipe.name), wait=wait, on_wait=on_wait), progress:
            result = run_plan(the_plan, store=the_store, executor=the_executor, on_event=on_event,
                              on_outcome=on_outcome)
    except (StoreBusy, DiskFull) as stop:
        fail(stop)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted:[/] the running jobs are recorded as interrupted; "
                          "run the same command again to resume.")
        raise typer.Exit(130) from None
    if result.trials:
        console.print(_trials_table(result, the_plan, the_store))
    console.print(_outcome_table(result.runs, the_store, [m.name for m in task_for(the_plan.recipe).metrics]))
    console.print(plain(f"records in {the_store.recipe_dir(the_plan.recipe.name)}"), highlight=False)
    _print_next(the_plan.recipe.name, store)
    for method, reason in result.held.items():
        err_console.print(f"[red]{esc(method)}: no seeded runs[/]: {esc(reason)}", highlight=False, soft_wrap=True)
    unfinished = [o for o in result.runs if o.status is not Status.OK]
    by_advice: dict[str, list[Outcome]] = {}
    for outcome in unfinished:
        by_advice.setdefault(advice(outcome.status, outcome.error), []).append(outcome)
    for what, outcomes in by_advice.items():
        verb = "diverged" if all(o.status is Status.DIVERGED for o in outcomes) else "did not finish"
        err_console.print(Text.assemble((f"{len(outcomes)} of {len(result.runs)} seeded run(s) {verb}", "red"),
                                        plain(f" ({', '.join(_job_name(o.job) for o in outcomes)}): {what}.")),
                          highlight=False, soft_wrap=True)
    if unfinished or result.held:
        raise typer.Exit(1)


def parse_batch_sizes(value: str) -> tuple[int, ...]:
    """`--batch-sizes 8,16,32`: positive whole numbers, comma separated."""
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 or s > 2**20 for s in sizes):
        raise UsageError(f"--batch-sizes: {clip(value, 60)!r} is not a comma-separated list of batch sizes "
                         "between 1 and 1048576, e.g. 8,16,32,64")
    return sizes


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def profile_table(found: dict[str, Any]) -> Table:
    """One row per method, basis variant and batch size, with the largest batch that fits."""
    from poc_cli.profile_results import largest_fitting

    limit = found.get("memory_limit_mib")
    capacity = found.get("capacity_mib")
    within = (f"report.memory_limit_mib ({limit:,.0f} MiB)" if limit is not None
              else f"the device's {capacity:,.0f} MiB" if capacity else "the device")
    table = Table(title=f"Load profile: {found['device']} at {found['precision']}, {found['steps']} timed steps "
                        f"per batch size after {found['warmup_steps']} warm-up", title_justify="left",
                  caption=plain(f"peak: {found['memory_scope']}; one batch per step (no accumulation); "
                                f"*: the largest measured batch within {within}"), caption_justify="left")
    for column in ("method", "bases", "batch", "s/step", "ex/s", "tokens/s", "peak MiB", "status"):
        table.add_column(column, justify="left" if column in {"method", "bases", "status"} else "right")
    fitting = largest_fitting(found, limit)
    for p in found["points"]:
        bases = "-" if p["bases"] is None else p["bases"] + ("" if p["in_recipe"] else " (v)")
        status = p["status"] if p["status"] == "ok" else f"[red]{esc(p['status'])}[/]"
        if p["status"] == "ok" and fitting[(p["label"], p["bases"])] == p["batch_size"]:
            status += " *"
        table.add_row(plain(p["label"]), plain(bases), str(p["batch_size"]), _fmt(p["step_s"], ".3g"),
                      _fmt(p["examples_per_s"], ",.1f"), _fmt(p["tokens_per_s"], ",.0f"),
                      _fmt(p["peak_memory_mib"], ",.0f"), status)
    return table


@app.command(name="profile", short_help="Measure step time and memory of each method at several batch sizes.")
def profile_command(
    recipe: Path = RecipeArg,
    store: Path = StoreOpt,
    batch_sizes: str = typer.Option("8,16,32,64", "--batch-sizes", help="Batch sizes to measure, comma separated."),
    steps: int = typer.Option(5, "--steps", min=1, max=1000, help="Timed steps per batch size (after the warm-up)."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON."),
) -> None:
    """Estimate the load: step time, throughput and peak memory of each method (RandLoRA with dense,
    sparse and very sparse bases) at each batch size, from a few real training steps.

    The profile is stored in the store, apart from the runs, and `poc report` draws it.
    """
    from poc_cli.plan import make_plan
    from poc_cli.profile import profile

    try:
        sizes = parse_batch_sizes(batch_sizes)
        writable_folder(store, "--store")
        the_plan = make_plan(load_recipe(recipe))
    except PocError as error:
        fail(error)
    the_store = Store(store)

    def on_point(point: Any) -> None:
        if not as_json:
            what = f"{point.label}" + (f" ({point.bases} bases)" if point.bases else "")
            outcome = (f"{point.step_s:.3g} s/step" if point.status == "ok" else point.status)
            err_console.print(plain(f"{what}, batch {point.batch_size}: {outcome}"), highlight=False)

    try:
        with recipe_lock(the_store.recipe_dir(the_plan.recipe.name)):
            found = profile(the_plan, batch_sizes=sizes, steps=steps, on_point=on_point)
            path = the_store.write_profile(found)
    except StoreBusy as busy:
        fail(busy)
    except OSError as error:
        from poc_cli.paths import why
        fail(PocError(f"--store: the profile could not be written to {the_store.profile_dir(the_plan.recipe.name)} "
                      f"({why(error)})"))
    if as_json:
        sys.stdout.write(json.dumps(found | {"path": str(path)}, indent=2) + "\n")
        return
    console.print(profile_table(found))
    if any(p["bases"] and not p["in_recipe"] for p in found["points"]):
        console.print(plain("(v): a variant of the recipe's RandLoRA, profiled for comparison"), highlight=False)
    for p in found["points"]:
        if p["error"]:
            err_console.print(plain(f"{p['label']}, batch {p['batch_size']}: {p['status']}: {p['error']}"),
                              highlight=False, soft_wrap=True)
    console.print(plain(f"profile stored in {path}; poc report draws it"), highlight=False)


def _scan_warning(store: Store, strict: bool) -> Scan | None:
    """The store read once for compare or report, with one warning line per file in it that is not a
    readable record; with --strict, stop. None when there is no store (compare and report say so)."""
    if not store.root.is_dir():
        return None
    scan = store.scan()
    for skip in scan.skipped:
        err_console.print(Text.assemble(("warning: ", "yellow"), plain(f"skipped {skip}")), soft_wrap=True)
    if strict and scan.skipped:
        fail(PocError(f"--strict: {len(scan.skipped)} record file(s) in {store.root} could not be read (see above)"))
    return scan


def _cli_price(price_per_hour: float | None, currency: str | None) -> Price | None:
    """The --price-per-hour / --currency options as a Price (None: the recipe's or the table's); without
    --currency the price is in the recipe's currency (an empty currency here, filled per record).
    Checked like the recipe's cost fields: a usage error (exit 2) names the option."""
    if currency is not None and price_per_hour is None:
        fail(RecipeError("--currency: names the currency of --price-per-hour; give that too"))
    if price_per_hour is None:
        return None
    if not math.isfinite(price_per_hour) or price_per_hour < 0 or price_per_hour > 1e12:
        fail(RecipeError(f"--price-per-hour: a finite amount of at least 0 is expected (got {price_per_hour:g})"))
    if currency is not None and not re.fullmatch(r"[A-Za-z]{1,8}", currency):
        fail(RecipeError(f"--currency: a currency code of 1 to 8 letters is expected, such as USD or JPY "
                         f"(got {currency[:20]!r})"))
    return Price(price_per_hour, currency or "", "given on the command line")


def _rows_frame(rows: list[MethodRow]) -> pd.DataFrame:
    import pandas as pd
    flat = []
    for row in rows:
        item = {k: v for k, v in row.to_dict().items() if k not in {"score", "scores", "difference", "train_s",
                                                                        "price", "settings", "statuses",
                                                                        "selection", "interval", "learning",
                                                                        "units", "job_ids", "pareto"}}
        for name, summary in [*row.scores.items(), ("train_s", row.train_s)]:
            item.update({f"{name}_mean": summary.mean if summary else None,
                         f"{name}_std": summary.std if summary else None, f"{name}_n": summary.n if summary else 0})
        d, check = row.difference, row.learning
        versus = check.versus_reference if check else None
        item.update(score_low=row.interval[0] if row.interval else None,
                    score_high=row.interval[1] if row.interval else None,
                    diff_vs_baseline=d.mean if d else None, diff_low=d.low if d else None,
                    diff_high=d.high if d else None, diff_method=d.method if d else None,
                    diff_p_value=d.p_value if d else None, diff_net_examples=d.net_examples if d else None,
                    diff_confidence=d.confidence if d else None, diff_adjusted_for=d.adjusted_for if d else None,
                    diff_detectable=d.detectable if d else None, diff_needed=d.needed if d else None,
                    diff_needed_counts=d.counts if d else None,
                    learned=check.learned if check else None, learned_reason=check.reason if check else None,
                    top_prediction_share=check.top_share if check else None,
                    learned_reference=check.reference if check else None,
                    vs_reference=versus.mean if versus else None, vs_reference_low=versus.low if versus else None,
                    vs_reference_high=versus.high if versus else None,
                    units=json.dumps(row.units), job_ids=json.dumps(row.job_ids),
                    price_per_hour=row.price.per_hour, currency=row.price.currency, price_source=row.price.source,
                    settings=json.dumps(row.settings), statuses=json.dumps(row.statuses),
                    chosen_by=row.selection.get("how"), selection=json.dumps(row.selection),
                    pareto_memory="memory" in row.pareto, pareto_time="time" in row.pareto)
        flat.append(item)
    return pd.DataFrame(flat)


@app.command(name="compare", short_help="Compare the stored runs: scores, differences, memory, time, cost.")
def compare_command(
    store: Path = StoreOpt,
    recipe: str | None = typer.Option(None, "--recipe", help="Only this recipe (its name)."),
    method: list[str] | None = typer.Option(None, "--method", help="Only these methods (repeatable)."),
    baseline: str | None = typer.Option(None, "--baseline", help="Reference method (default: lora)."),
    price_per_hour: float | None = typer.Option(None, "--price-per-hour", help="Hourly price of the machine."),
    currency: str | None = typer.Option(None, "--currency", help="Currency of --price-per-hour (default: the recipe's cost.currency)."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print the comparison as CSV."),
    wide: bool = typer.Option(False, "--wide", help="Every column (the default fits 100 columns)."),
    strict: bool = StrictOpt,
) -> None:
    """Compare the stored runs: each method's score with its 95% interval, the paired difference
    against the reference, the trivial answer's score, and memory, time and cost."""
    if as_json and as_csv:
        fail(RecipeError("--json, --csv: choose one of the two"))
    price = _cli_price(price_per_hour, currency)
    from poc_cli.compare import TRIVIAL_KIND, compare
    from poc_cli.render import footnotes, narrow_table, wide_table

    scan = _scan_warning(Store(store), strict)
    try:
        rows = compare(Store(store), recipe=recipe, methods=method, baseline=baseline, price=price, scan=scan)
    except PocError as error:
        fail(error)
    if as_json:
        sys.stdout.write(json.dumps([r.to_dict() for r in rows], indent=2, default=str) + "\n")
        return
    if as_csv:
        sys.stdout.write(_rows_frame(rows).to_csv(index=False))
        return
    for recipe_name in dict.fromkeys(r.recipe for r in rows):
        mine = [r for r in rows if r.recipe == recipe_name]
        first = next((r for r in mine if r.method_kind != TRIVIAL_KIND), mine[0])
        title = f"Recipe {recipe_name}: test {first.metric}, difference against {first.baseline}"
        console.print(wide_table(mine, title) if wide else narrow_table(mine, title, console.width))
        for note in footnotes(mine):
            console.print(Text(note, style="dim"))


@app.command(short_help="Write the management report (HTML, PDF or Markdown; en or ja).")
def report(
    store: Path = StoreOpt,
    fmt: str = typer.Option("html", "--format", help="html (self-contained, A4), pdf (A4, page numbers) or md."),
    lang: str = typer.Option("en", "--lang", help="en or ja."),
    output: Path | None = typer.Option(None, "--output", help="File to write (default: reports/...)."),
    recipe: str | None = typer.Option(None, "--recipe", help="Only this recipe (its name)."),
    baseline: str | None = typer.Option(None, "--baseline", help="Reference method (default: the recipe's, lora)."),
    price_per_hour: float | None = typer.Option(None, "--price-per-hour", help="Hourly price of the machine."),
    currency: str | None = typer.Option(None, "--currency", help="Currency of --price-per-hour (default: the recipe's cost.currency)."),
    strict: bool = StrictOpt,
) -> None:
    """Write the management report: conclusion first, then accuracy, cost, memory, risk."""
    from poc_cli.report import FORMATS, write_report

    if fmt not in FORMATS:
        fail(RecipeError(f"--format: {fmt!r} is not supported; use html, pdf or md"))
    if lang not in {"en", "ja"}:
        fail(RecipeError(f"--lang: {lang!r} is not supported; use en or ja"))
    price = _cli_price(price_per_hour, currency)
    scan = _scan_warning(Store(store), strict)
    try:
        path = write_report(Store(store), fmt=fmt, lang=lang, output=output, recipe=recipe, baseline=baseline, scan=scan,
                            price=price)
    except PocError as error:
        fail(error)
    console.print(plain(f"report written to {path}"), highlight=False)
    if lang == "ja":
        from poc_cli.report.fonts import INSTALL, cjk_family

        if cjk_family() is None:
            err_console.print(plain(f"note: no Japanese font here for the charts: {INSTALL}; their text stays text, "
                                    "which a browser draws in its own fonts"), highlight=False, soft_wrap=True)


export_app = typer.Typer(help="Send the stored records to other tools.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("mlflow", short_help="Log the stored records as MLflow runs.")
def export_mlflow(
    store: Path = StoreOpt,
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="An MLflow server (http://...), a "
                                                                          "database (sqlite:///x.db) or a folder "
                                                                          "(file:/x or a path); default: "
                                                                          "sqlite:///mlflow.db here."),
    experiment: str | None = typer.Option(None, "--experiment", help="Experiment name (default: each recipe's name)."),
    recipe: str | None = typer.Option(None, "--recipe", help="Only this recipe (its name)."),
    strict: bool = StrictOpt,
) -> None:
    """Log every stored record as an MLflow run (params, metrics, tags, artifacts); exporting again
    updates those runs instead of adding new ones (the job id is the key)."""
    from poc_cli.mlflow_export import export, require_mlflow

    try:
        require_mlflow()
    except PocError as error:
        fail(error)
    the_store = Store(store)
    scan = _scan_warning(the_store, strict)
    try:
        done = export(the_store, uri=tracking_uri, experiment=experiment, recipe=recipe, scan=scan)
    except PocError as error:
        fail(error)
    except Exception as exc:  # MLflow's own errors (a server that is down, a bad URI): one line
        fail(PocError(f"--tracking-uri: MLflow refused the export ({type(exc).__name__}: {first_line(exc)[:300]})"))
    names = ", ".join(sorted(done.experiments))
    where = done.tracking
    assert where is not None
    console.print(plain(f"{len(done.created)} run(s) created, {len(done.updated)} updated, {len(done.unchanged)} "
                        f"already up to date, in experiment(s) {names}, at {where.uri}"), highlight=False,
                  soft_wrap=True)
    if where.note:
        console.print(plain(f"note: exported {where.note}"), highlight=False, soft_wrap=True)
    console.print(plain(f"to look at them: {where.open_with}"), highlight=False, soft_wrap=True)


@app.command(short_help="Check this machine, its GPUs (--gpu) and a recipe.")
def doctor(
    recipe: Path | None = typer.Argument(None, help="Also check that this recipe can run here.", show_default=False),
    gpu: bool = typer.Option(False, "--gpu", help="Run a tiny job on each visible GPU and say what poc measures "
                                                  "there (about a minute)."),
) -> None:
    """Print the environment and which measurements are available; with RECIPE, check it can run here."""
    from poc_cli.doctor import environment_checks, recipe_checks

    rows, checks = environment_checks()
    versions = Table(title="Environment", title_justify="left", show_header=False)
    for name, value in rows:
        versions.add_row(name, value)
    console.print(versions)
    console.print(_checks_table("Measurements", checks))
    if gpu:
        _doctor_gpu()
    if recipe is None:
        return
    try:
        recipe_results = recipe_checks(recipe)
    except PocError as error:
        fail(error)
    console.print(_checks_table(f"Recipe {recipe}", recipe_results))
    failed = [c for c in recipe_results if not c.ok]
    if failed:
        err_console.print("[red]the recipe cannot run here:[/] " + "; ".join(f"{esc(c.name)}: {esc(c.detail)}" for c in failed),
                          highlight=False)
        raise typer.Exit(2)  # as `poc plan` refuses it: the recipe asks for what this machine lacks


def _doctor_gpu() -> None:
    """`poc doctor --gpu`: exit 1 unless every GPU check passed (no GPU at all is said plainly)."""
    from poc_cli.gpu_doctor import gpu_checks, no_gpu_reason

    reason = no_gpu_reason()
    if reason is not None:
        err_console.print(Text.assemble(("GPU checks: ", "bold red"), plain(reason)), highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    failed = []
    for title, found in gpu_checks():
        console.print(_checks_table(f"GPU checks: {title}", found))
        failed += [f"{title}: {c.name}" for c in found if not c.ok]
    if failed:
        err_console.print(plain("GPU checks failed: " + "; ".join(failed)), highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _checks_table(title: str, checks: list[Check]) -> Table:
    table = Table(title=plain(title), title_justify="left")
    table.add_column("")
    table.add_column("check")
    table.add_column("detail")
    for check in checks:
        table.add_row("[green]yes[/]" if check.ok else "[red]no[/]", plain(check.name), plain(check.detail))
    return table


def main() -> None:
    """Console-script entry point."""
    app()
