"""`poc compare`: the stored runs side by side, as a table, CSV or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from poc_cli.errors import PocError, RecipeError
from poc_cli.store import Store

if TYPE_CHECKING:
    import pandas as pd

    from poc_cli.compare import MethodRow
    from poc_cli.cost import Price
    from poc_cli.store import Scan
from poc_cli.commands.common import (
    StoreOpt,
    StrictOpt,
    cli_price,
    console,
    fail,
    scan_warning,
)


def _rows_frame(rows: list[MethodRow]) -> pd.DataFrame:
    import pandas as pd

    from poc_cli.serving_summary import serving_columns
    flat = []
    for row in rows:
        item = {k: v for k, v in row.to_dict().items() if k not in {"score", "scores", "difference", "train_s", "steady_s",
                                                                        "price", "settings", "statuses",
                                                                        "selection", "interval", "learning",
                                                                        "units", "job_ids", "pareto", "planners",
                                                                        "serving"}}
        for name, summary in [*row.scores.items(), ("train_s", row.train_s), ("steady_s", row.steady_s)]:
            item.update({f"{name}_mean": summary.mean if summary else None,
                         f"{name}_std": summary.std if summary else None, f"{name}_n": summary.n if summary else 0})
        planners = row.planners
        versus = planners.difference if planners else None
        item.update(planners_best=planners.best if planners else None,
                    planners_diff=versus.mean if versus else None, planners_low=versus.low if versus else None,
                    planners_high=versus.high if versus else None,
                    planners_better=planners.better if planners else None)
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
                    chosen_by=row.selection.how, selection=json.dumps(row.selection.to_dict()),
                    pareto_memory="memory" in row.pareto, pareto_time="time" in row.pareto)
        item.update(serving_columns(row.serving))
        flat.append(item)
    return pd.DataFrame(flat)


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
    price = cli_price(price_per_hour, currency)
    from poc_cli.compare import TRIVIAL_KIND, compare
    from poc_cli.render.compare import footnotes, narrow_table, wide_table

    scan = scan_warning(Store(store), strict)
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
        if scan is not None:
            try:
                _inspection(Store(store), scan, recipe_name, baseline=baseline, price=price)
            except PocError as error:
                fail(error)


def _inspection(store: Store, scan: Scan, recipe_name: str, *, baseline: str | None, price: Price | None) -> None:
    """A binary task with a business block: each method's AUROC and, where the recipe sets one, its
    operating point (the report's table, without its chart)."""
    from rich.table import Table

    from poc_cli.business_spec import BusinessSpec
    from poc_cli.compare import latest_records
    from poc_cli.report.build import recipe_inputs
    from poc_cli.report.inspection import inspection

    records = [r for r in latest_records(scan.records) if r.recipe_name == recipe_name]
    inputs = recipe_inputs(store, scan, records, lang="en", baseline=baseline, price=price)
    spec = inputs.recipe.business if inputs.recipe else None
    block = inspection(inputs, spec, curve=False) if isinstance(spec, BusinessSpec) and inputs.trained else None
    if block is None:
        return
    table = Table(title="Ranking defects and the operating point", title_justify="left")
    for k, header in enumerate(block["table"]["headers"]):
        table.add_column(header, justify="right" if k else "left", overflow="fold")
    for row in block["table"]["rows"]:
        table.add_row(*row)
    console.print(table)
    for note in block["notes"]:
        console.print(Text(note, style="dim"))
