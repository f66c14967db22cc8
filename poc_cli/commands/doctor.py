"""`poc doctor`: this machine, its GPUs and a recipe, checked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from poc_cli.commands.common import (
    console,
    err_console,
    fail,
)
from poc_cli.errors import PocError
from poc_cli.render.doctor import checks_table
from poc_cli.safe_text import esc, plain

if TYPE_CHECKING:
    pass


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
    console.print(checks_table("Measurements", checks))
    if gpu:
        _doctor_gpu()
    if recipe is None:
        return
    try:
        recipe_results = recipe_checks(recipe)
    except PocError as error:
        fail(error)
    console.print(checks_table(f"Recipe {recipe}", recipe_results))
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
        console.print(checks_table(f"GPU checks: {title}", found))
        failed += [f"{title}: {c.name}" for c in found if not c.ok]
    if failed:
        err_console.print(plain("GPU checks failed: " + "; ".join(failed)), highlight=False, soft_wrap=True)
        raise typer.Exit(1)


