"""Assemble one report section per recipe: every number comes from the store's records.

The order is the manager's: the summary and the conclusion first, then quality, resources and
GPU sizing, the load estimate across batch sizes, cost and business value, charts, the search, risks, methodology. The context holds
text already formatted for the chosen language; templates only lay it out (and escape it).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from poc_cli.compare import check_options, compare, compare_records, latest_records
from poc_cli.cost import Price
from poc_cli.errors import PocError, RecipeError
from poc_cli.recipe import Recipe
from poc_cli.records.record import StoredRecord
from poc_cli.report import costs, tables
from poc_cli.report.common import Inputs
from poc_cli.report.figures import FRONT_FROM, figures
from poc_cli.report.ranked import ranking
from poc_cli.report.i18n import text
from poc_cli.report.load import load
from poc_cli.report.methodology import methodology
from poc_cli.report.risks import risks
from poc_cli.report.serving import serving
from poc_cli.report.summary import conclusion, conclusion_text, executive_summary
from poc_cli.store import Scan, Store


def _recipe(records: list[StoredRecord]) -> Recipe | None:
    try:
        return Recipe.model_validate(records[0].job.recipe.stored())
    except (ValidationError, IndexError):
        return None


def _date(i: Inputs) -> str:
    """When the report was made, in the recipe's time zone (report.timezone) or the machine's."""
    zone = i.recipe.report.timezone if i.recipe else None
    now = datetime.now(ZoneInfo(zone)) if zone else datetime.now().astimezone()
    return now.strftime("%Y年%-m月%-d日 %H:%M（%Z）") if i.lang == "ja" else now.strftime("%Y-%m-%d %H:%M %Z")


def _section(i: Inputs, price: Price | None) -> dict[str, Any]:
    decided = conclusion(i)
    return {
        "name": i.name,
        "title": text(i.lang, "title", recipe=i.name),
        "subtitle": text(i.lang, "subtitle"),
        "description": i.recipe.description if i.recipe else "",
        "date": (date := _date(i)),
        "generated": text(i.lang, "generated", date=date, n=len(i.records)),
        "summary": executive_summary(i, decided),
        "conclusion": conclusion_text(i, decided),
        "rule": decided.rule,
        "recommended": decided.recommended,
        "not_learned": list(decided.not_learned),
        "rules_note": text(i.lang, "rules_note"),
        "ranking": ranking(i),
        "quality": tables.quality(i),
        "resources": tables.resources(i),
        "sizing": tables.sizing(i),
        "load": load(i, i.profile),
        "cost": costs.cost(i, price),
        "business": costs.business(i, price),
        "serving": serving(i),
        "charts": (drawn := figures(i)),
        "charts_note": text(i.lang, "charts_note", baseline=i.name_of(i.baseline)) + (
            (" " if i.lang == "en" else "") + text(i.lang, "front_note") if len(i.trained) >= FRONT_FROM and drawn
            else ""),
        "trials": tables.trials(i),
        "risks": risks(i),
        "methodology": methodology(i),
    }


def _check_currency(recipe: Recipe | None, price: Price | None) -> None:
    """Business amounts are in the recipe's currency: a price in another one would mix them."""
    if recipe and recipe.business and price and price.currency and price.currency != recipe.cost.currency:
        raise RecipeError(f"--currency: {price.currency} differs from the recipe's cost.currency "
                          f"({recipe.cost.currency}), the currency of its business figures")


def build_sections(store: Store, *, lang: str, recipe: str | None = None, baseline: str | None = None,
                   price: Price | None = None, scan: Scan | None = None) -> list[dict[str, Any]]:
    """One report section per recipe in the store (or the one named), from `scan` when given."""
    if lang not in {"en", "ja"}:
        raise PocError(f"--lang: {lang!r} is not supported; use en or ja")
    scan = scan or store.scan()  # one read of the store: the records and the files that are not
    every = latest_records(scan.records)
    check_options(every, recipe=recipe, baseline=baseline)
    records = [r for r in every if recipe is None or r.recipe_name == recipe]
    names = list(dict.fromkeys(r.recipe_name for r in sorted(records, key=lambda r: r.recipe_name)))
    if not names:
        compare(store, recipe=recipe, scan=scan)  # raises the store's own error (missing, empty, filtered out)
    sections = []
    for name in names:
        inputs = recipe_inputs(store, scan, [r for r in records if r.recipe_name == name], lang=lang,
                               baseline=baseline, price=price)
        sections.append(_section(inputs, price))
    return sections


def recipe_inputs(store: Store, scan: Scan, recipe_records: list[StoredRecord], *, lang: str, baseline: str | None,
                  price: Price | None) -> Inputs:
    """What one recipe's section is made from: its rows, records, parsed recipe and ok runs by seed."""
    name = recipe_records[0].recipe_name
    parsed = _recipe(recipe_records)
    _check_currency(parsed, price)
    reference = baseline or (parsed.report.baseline if parsed else None)
    ok_runs: dict[str, dict[int, StoredRecord]] = defaultdict(dict)
    for r in recipe_records:
        if r.ok:
            ok_runs[r.method][r.seed] = r
    rows = compare_records(recipe_records, baseline=reference, price=price)
    folder = store.recipe_dir(name)
    damaged = tuple(str(skip) for skip in scan.skipped if skip.path.parent == folder)
    return Inputs(name, rows, recipe_records, list(store.trial_records(name)), parsed, ok_runs, lang, damaged,
                  store.latest_profile(name))
