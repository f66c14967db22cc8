"""`poc report`: the management report (HTML, PDF or Markdown; en or ja)."""

from __future__ import annotations

from pathlib import Path

import typer

from poc_cli.commands.common import (
    StoreOpt,
    StrictOpt,
    cli_price,
    console,
    err_console,
    fail,
    scan_warning,
)
from poc_cli.errors import PocError, RecipeError
from poc_cli.safe_text import plain
from poc_cli.store import Store


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
    price = cli_price(price_per_hour, currency)
    scan = scan_warning(Store(store), strict)
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
