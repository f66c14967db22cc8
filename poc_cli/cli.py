"""The `poc` command line: parse, call one library function, render with Rich.

Only this module (and the report layer) prints. Errors a user can act on are one line
on stderr with exit code 2 for usage and recipe errors, 1 otherwise; never a traceback.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from poc_cli import __version__
from poc_cli.doctor import Check, environment_checks, recipe_checks
from poc_cli.errors import PocError
from poc_cli.launcher import Outcome, run_plan
from poc_cli.plan import Job, Plan, make_plan
from poc_cli.recipe import load_recipe
from poc_cli.result import Status
from poc_cli.store import DEFAULT_STORE, Store

app = typer.Typer(
    help="Measure whether RandLoRA pays off against LoRA and full fine-tuning, on your model and data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

RecipeArg = typer.Argument(..., help="Path to the recipe YAML file.", show_default=False)
StoreOpt = typer.Option(DEFAULT_STORE, "--store", help="Results folder (created if missing).")


def fail(error: PocError) -> NoReturn:
    """Print a user error as one line and exit with its code."""
    err_console.print(f"[bold red]error:[/] {error}", highlight=False, markup=True, soft_wrap=True)
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


def _settings_text(settings: dict[str, Any]) -> str:
    shown = {k: v for k, v in settings.items() if v not in (False, 0.0) or k == "r"}
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()) or "-"


def plan_table(plan: Plan) -> Table:
    """The job table: method, configuration, trainable parameters, share, deviation, seeds."""
    table = Table(title=f"Plan: {plan.recipe.name}", title_justify="left")
    for column, justify in [("method", "left"), ("configuration", "left"), ("trainable (adapter)", "right"),
                            ("% of full model", "right"), ("vs budget", "right"), ("seeds", "left")]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for a in plan.allocations:
        table.add_row(
            a.label,
            _settings_text(a.settings) if a.method != "full" else "all parameters",
            f"{a.adapter_parameters:,}",
            f"{100 * a.adapter_parameters / a.total_parameters:.2f}%",
            f"{a.deviation:+.2%}" if a.deviation is not None else "reference",
            ", ".join(map(str, plan.recipe.seeds)),
        )
    head = plan.architecture
    table.add_row(
        f"+ head ({', '.join(head.head_modules)})", "trained by every method", f"{head.head_parameters:,}",
        f"{100 * head.head_parameters / head.total_parameters:.3f}%", "", "", style="dim",
    )
    return table


def _print_plan(plan: Plan) -> None:
    sizes = plan.splits.sizes()
    console.print(
        f"model [bold]{plan.recipe.model}[/] ({plan.architecture.total_parameters:,} parameters, "
        f"{len(plan.architecture.layers)} target layers)  data: "
        + ", ".join(f"{k} {v:,}" for k, v in sizes.items())
        + f", {len(plan.splits.labels)} labels",
        highlight=False,
    )
    console.print(
        f"budget [bold]{plan.budget:,}[/] adapter parameters, tolerance {plan.recipe.budget.tolerance:.0%}",
        highlight=False,
    )
    console.print(plan_table(plan))
    console.print(f"{len(plan.jobs)} jobs (methods x seeds)")


def _load_plan(recipe_path: Path) -> Plan:
    try:
        return make_plan(load_recipe(recipe_path))
    except PocError as error:
        fail(error)


@app.command()
def plan(
    recipe: Path = RecipeArg,
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Show what will run and at what trainable-parameter budget, without training."""
    the_plan = _load_plan(recipe)
    if as_json:
        sys.stdout.write(json.dumps(the_plan.to_dict(), indent=2) + "\n")
        return
    _print_plan(the_plan)


def _outcome_table(outcomes: list[Outcome], store: Store) -> Table:
    table = Table(title="Results", title_justify="left")
    for column in ("method", "seed", "status", "accuracy", "macro-F1", "train time", "note"):
        table.add_column(column)
    for o in outcomes:
        rec = store.read(o.job.recipe.name, o.job.id) or {}
        test = rec.get("metrics", {}).get("test", {})
        style = "green" if o.status is Status.OK else "red"
        note = "done before, skipped" if o.skipped else (o.error or "")
        if rec.get("warnings"):
            note = (note + "; " if note else "") + "; ".join(rec["warnings"])
        table.add_row(
            o.job.allocation.label, str(o.job.seed), f"[{style}]{o.status.value}[/]",
            f"{test['accuracy']:.3f}" if "accuracy" in test else "-",
            f"{test['macro_f1']:.3f}" if "macro_f1" in test else "-",
            f"{rec['timing']['train_s']:.1f} s" if rec.get("timing", {}).get("train_s") else "-",
            note,
        )
    return table


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@app.command()
def run(recipe: Path = RecipeArg, store: Path = StoreOpt) -> None:
    """Run every job of the recipe (methods x seeds), each in its own process, and store the results.

    Jobs already stored as ok are skipped; failed or interrupted ones run again.
    """
    the_plan = _load_plan(recipe)
    _print_plan(the_plan)
    the_store = Store(store)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # `kill` stops as cleanly as Ctrl-C
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"), console=console,
    )
    overall = progress.add_task("jobs", total=len(the_plan.jobs), info="")
    current = progress.add_task("", total=None, info="", visible=False)

    def on_event(job: Job, event: dict[str, Any]) -> None:
        name = f"{job.allocation.label} seed {job.seed}"
        if event["event"] == "phase":
            progress.update(current, description=f"{name}: {event['phase']}", visible=True, info="")
            if event["phase"] == "train":
                progress.reset(current, total=None)
        elif event["event"] == "step":
            progress.update(current, completed=event["step"], total=event["total"], info=f"loss {event['loss']:.3f}")

    def on_outcome(outcome: Outcome) -> None:
        progress.advance(overall)
        progress.update(current, visible=False)
        if not outcome.skipped and outcome.status is not Status.OK:
            progress.console.print(
                f"[red]{outcome.job.allocation.label} seed {outcome.job.seed}: {outcome.status.value}[/] "
                f"{outcome.error or ''}", highlight=False,
            )

    try:
        with progress:
            outcomes = run_plan(the_plan, store=the_store, on_event=on_event, on_outcome=on_outcome)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted:[/] the running job is recorded as interrupted; "
                          "run the same command again to resume.")
        raise typer.Exit(130) from None
    console.print(_outcome_table(outcomes, the_store))
    console.print(f"records in {the_store.recipe_dir(the_plan.recipe.name)}", highlight=False)
    failed = [o for o in outcomes if o.status is not Status.OK]
    if failed:
        err_console.print(f"[red]{len(failed)} of {len(outcomes)} jobs did not finish ok[/]; "
                          "run the same command again to retry them.")
        raise typer.Exit(1)


@app.command()
def doctor(
    recipe: Path | None = typer.Argument(None, help="Also check that this recipe can run here.", show_default=False),
) -> None:
    """Print the environment and which measurements are available; with RECIPE, check it can run here."""
    rows, checks = environment_checks()
    versions = Table(title="Environment", title_justify="left", show_header=False)
    for name, value in rows:
        versions.add_row(name, value)
    console.print(versions)
    console.print(_checks_table("Measurements", checks))
    if recipe is None:
        return
    try:
        recipe_results = recipe_checks(recipe)
    except PocError as error:
        fail(error)
    console.print(_checks_table(f"Recipe {recipe}", recipe_results))
    failed = [c for c in recipe_results if not c.ok]
    if failed:
        err_console.print("[red]the recipe cannot run here:[/] " + "; ".join(f"{c.name}: {c.detail}" for c in failed),
                          highlight=False)
        raise typer.Exit(1)


def _checks_table(title: str, checks: list[Check]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("check")
    table.add_column("detail")
    for check in checks:
        table.add_row("[green]yes[/]" if check.ok else "[red]no[/]", check.name, check.detail)
    return table


def main() -> None:
    """Console-script entry point."""
    app()
