"""`poc export`: the stored records sent to other tools (MLflow)."""

from __future__ import annotations

from pathlib import Path

import typer

from poc_cli.commands.common import (
    StoreOpt,
    StrictOpt,
    console,
    fail,
    scan_warning,
)
from poc_cli.errors import PocError, first_line
from poc_cli.safe_text import plain
from poc_cli.store import Store


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
    scan = scan_warning(the_store, strict)
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
