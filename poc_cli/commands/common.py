"""What every command shares: the consoles, the options, the one-line error, the store scan's warning."""

from __future__ import annotations

import math
import re
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from poc_cli.cost import Price
from poc_cli.errors import PocError, RecipeError, clip
from poc_cli.safe_text import plain
from poc_cli.store import DEFAULT_STORE, Scan, Store

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



def scan_warning(store: Store, strict: bool) -> Scan | None:
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


def cli_price(price_per_hour: float | None, currency: str | None) -> Price | None:
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
