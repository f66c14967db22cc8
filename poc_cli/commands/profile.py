"""`poc profile`: step time and memory of each method at several batch sizes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from poc_cli.commands.common import (
    RecipeArg,
    StoreOpt,
    console,
    err_console,
    fail,
)
from poc_cli.errors import PocError, UsageError, clip
from poc_cli.lock import LockError, recipe_lock
from poc_cli.paths import writable_folder
from poc_cli.recipe import load_recipe
from poc_cli.render.profile import profile_table
from poc_cli.safe_text import plain
from poc_cli.store import Store


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
    except LockError as busy:
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
