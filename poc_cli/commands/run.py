"""`poc run`: every job of the recipe, on the chosen executor, into the store."""

from __future__ import annotations

import shlex
import signal
import threading
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from poc_cli.advice import advice
from poc_cli.commands.common import (
    RecipeArg,
    StoreOpt,
    console,
    err_console,
    fail,
)
from poc_cli.commands.plan import print_plan
from poc_cli.errors import PocError
from poc_cli.lock import LockError, recipe_lock
from poc_cli.paths import writable_folder
from poc_cli.recipe import Recipe, load_recipe
from poc_cli.render.run import job_name, outcome_table, trials_table
from poc_cli.records.status import Stage, Status
from poc_cli.safe_text import esc, plain
from poc_cli.store import Store

if TYPE_CHECKING:
    from poc_cli.executors import Executor
    from poc_cli.launcher import Outcome
    from poc_cli.plan import Job, Plan


def _overall(progress: Progress, overall: TaskID, plan: Plan, ended: Callable[[Outcome], None]
             ) -> Callable[[Outcome], None]:
    """Each job's end on the overall bar (which grows by a trial the search adds beyond a grid's edge), and a
    line for each that did not end ok."""
    planned = {job.id for job in plan.trial_jobs}

    def on_outcome(outcome: Outcome) -> None:
        ended(outcome)
        if outcome.job.stage is Stage.TRIAL and outcome.job.rung is None and outcome.job.id not in planned:
            progress.update(overall, total=(progress.tasks[overall].total or 0) + 1)
        progress.advance(overall)
        if not outcome.skipped and outcome.status is not Status.OK:
            colour = "yellow" if outcome.status is Status.DIVERGED else "red"
            progress.console.print(f"[{colour}]{esc(job_name(outcome.job))}: {outcome.status.value}[/] "
                                   f"{esc(outcome.error or '')}", highlight=False)
    return on_outcome


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
                lines[key] = (progress.add_task(f"{esc(job_name(job))}{where}", total=None, info=""), where)
            task, where = lines[key]
            if event["event"] == "phase":
                progress.update(task, description=f"{esc(job_name(job))}{where}: {event['phase']}", info="")
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
    from poc_cli.launcher import DiskFull, run_plan  # these import torch: only once a run starts
    from poc_cli.plan import make_plan
    from poc_cli.tasks import task_for

    try:
        the_plan = make_plan(the_recipe, facts=the_executor.facts)
    except PocError as error:
        fail(error)
    print_plan(the_plan)
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

    on_outcome = _overall(progress, overall, the_plan, ended)

    def on_wait(holder: str) -> None:
        err_console.print(Text(f"waiting: the store is in use by {holder}"), soft_wrap=True)

    try:
        with recipe_lock(the_store.recipe_dir(the_plan.recipe.name), wait=wait, on_wait=on_wait), progress:
            result = run_plan(the_plan, store=the_store, executor=the_executor, on_event=on_event,
                              on_outcome=on_outcome)
    except (LockError, DiskFull) as stop:
        fail(stop)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted:[/] the running jobs are recorded as interrupted; "
                          "run the same command again to resume.")
        raise typer.Exit(130) from None
    if result.trials:
        console.print(trials_table(result, the_plan, the_store))
    console.print(outcome_table(result.runs, the_store, [m.name for m in task_for(the_plan.recipe).metrics],
                                console.width))
    console.print(plain(f"records in {the_store.recipe_dir(the_plan.recipe.name)}"), highlight=False)
    _print_next(the_plan.recipe.name, store)
    for method, reason in result.held.items():
        err_console.print(f"[red]{esc(method)}: no seeded runs[/]: {esc(reason)}", highlight=False, soft_wrap=True)
    unfinished = [o for o in result.runs if o.status is not Status.OK or not o.stored]
    by_advice: dict[str, list[Outcome]] = {}
    for outcome in unfinished:
        by_advice.setdefault(advice(outcome.status, outcome.error), []).append(outcome)
    for what, outcomes in by_advice.items():
        verb = "diverged" if all(o.status is Status.DIVERGED for o in outcomes) else "did not finish"
        err_console.print(Text.assemble((f"{len(outcomes)} of {len(result.runs)} seeded run(s) {verb}", "red"),
                                        plain(f" ({', '.join(job_name(o.job) for o in outcomes)}): {what}.")),
                          highlight=False, soft_wrap=True)
    if unfinished or result.held:
        raise typer.Exit(1)
