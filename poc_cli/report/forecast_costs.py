"""The business section of a forecasting report: each method's forecast errors in units and money
per month, its saving against seasonal naive (or the company's forecasts today) and the payback.

Same shape as the classification section (`costs.business`): a first table of the errors, a
second of the money, notes that say how each figure was made. Every number comes from the stored
test forecasts (forecast_business.py).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from poc_cli.compare import MethodRow
from poc_cli.cost import run_cost, typical_price
from poc_cli.forecast_business import ForecastOutcome, against, errors, forecast_outcome, month_of
from poc_cli.numbers import duration, money, payback, ranged
from poc_cli.planners import best_classical, is_classical
from poc_cli.learning import trivial
from poc_cli.business_spec import ForecastBusinessSpec
from poc_cli.records.record import StoredRecord
from poc_cli.report.common import Inputs, join
from poc_cli.report.i18n import text


def _stored(runs: list[StoredRecord], key: str) -> list[list[list[float]]]:
    """Each run's forecasts on test (`forecast`, `actual` ...) as the forecasting task stored them."""
    return [run.test_predictions.value(key) if run.test_predictions else None for run in runs]  # type: ignore[misc]


def unit_row(i: Inputs, name: str, month: Any) -> list[str]:
    """A forecaster's units short, units in excess and their cost, a month."""
    return [name, f"{month.under_units:,.0f}", f"{month.over_units:,.0f}", money(month.cost, i.currency, i.lang)]


def _references(i: Inputs, spec: ForecastBusinessSpec, classical: list[MethodRow], outcome_of: Any, actual: Any,
                naive: Any, demand: np.ndarray, planners: Any) -> tuple[list[list[str]], list[list[str]]]:
    """The rows of seasonal naive and of each classical forecast: what learning nothing costs, and what planners
    run today (nothing invested in training)."""
    lang, currency = i.lang, i.currency
    units, months = [], []
    units.append(unit_row(i, text(lang, "name_seasonal-naive"), month_of(spec, naive, demand)))
    if against(spec, planners) != "seasonal-naive":  # seasonal naive itself against the baseline: what learning nothing saves
        months.append(_money_row(text(lang, "name_seasonal-naive"), outcome_of(method=naive, investment=0.0), lang,
                                 currency, invested=False))
    for row in classical:  # what planners run today: fitted, nothing invested in training
        outcome = outcome_of(method=errors(actual, _stored(list(i.ok_runs[row.method].values())[:1], "forecast")),
                             investment=0.0)
        units.append(unit_row(i, i.name_of(row), outcome.month))
        months.append(_money_row(i.name_of(row), outcome, lang, currency, invested=False))
    return units, months


def forecast_business(i: Inputs, spec: ForecastBusinessSpec, *, investment: dict[str, float],
                      poc: float) -> dict[str, Any]:
    """The two tables and their notes; `investment` is each method's production training plus `poc`. The
    classical rows (what planners run today) are priced beside the methods, and the savings are against
    the best of them unless the recipe states today's accuracy (`current_mase`)."""
    lang, currency = i.lang, i.currency
    first = list(i.ok_runs[i.trained[0].method].values()) if i.trained else []
    naive_row = trivial(first[0]) if first else None
    if naive_row is None:
        return {"missing": text(lang, "no_business")}
    actual = _stored(first[:1], "actual")
    demand = np.asarray(actual[0], dtype=float).sum(-1)
    naive = errors(actual, _stored(first[:1], "naive"))
    naive_mase = np.asarray(naive_row.per_example["mase"], dtype=float)
    classical = [r for r in i.rows if is_classical(r.method_kind) and r.method in i.ok_runs]
    best = best_classical(classical)
    planners = errors(actual, _stored(list(i.ok_runs[best.method].values())[:1], "forecast")) if best else None
    outcome_of = partial(forecast_outcome, spec, naive=naive, demand=demand, naive_mase=naive_mase, classical=planners)
    units, months = _references(i, spec, classical, outcome_of, actual, naive, demand, planners)
    warnings = []
    for row in i.trained:
        runs = list(i.ok_runs[row.method].values())
        outcome = outcome_of(method=errors(_stored(runs, "actual"), _stored(runs, "forecast")),
                             investment=investment[row.method])
        units.append(unit_row(i, i.name_of(row), outcome.month))
        months.append(_money_row(i.name_of(row), outcome, lang, currency))
        if row.learning is not None and row.learning.learned is False:
            warnings.append(text(lang, "forecast_dnl", method=i.name_of(row)))
        elif row.planners is not None and not row.planners.better:
            warnings.append(text(lang, "forecast_behind", method=i.name_of(row), best=i.name_of(row.planners.best)))
    versus = outcome_of(method=naive, investment=0.0)
    notes = [text(lang, "forecast_business_note", under=money(spec.under_forecast_cost, currency, lang),
                  over=money(spec.over_forecast_cost, currency, lang), volume=f"{spec.monthly_volume:,.0f}"),
             text(lang, f"forecast_against_{versus.against}", cost=money(versus.baseline_cost, currency, lang),
                  mase=f"{spec.current_mase or 0:g}", naive=f"{float(naive_mase.mean()):.3f}",
                  best=i.name_of(best) if best else "-"),
             *_fitting_note(i, classical),
             text(lang, "forecast_payback_note", poc=money(poc, currency, lang))]
    against_key = versus.against
    return {
        "missing": None, "warnings": warnings,
        "rates": {"headers": [text(lang, k) for k in ("c_method", "c_under_units", "c_over_units", "c_error_cost")],
                  "rows": units, "numeric_from": 1},
        "monthly": {"headers": [text(lang, k) for k in ("c_method", "c_error_cost", f"c_saving_{against_key}",
                                                        "c_payback")],
                    "rows": months, "numeric_from": 1},
        "notes": notes,
    }


def _fitting_note(i: Inputs, classical: list[MethodRow]) -> list[str]:
    """What fitting the classical rows took, in CPU seconds and at a small CPU machine's price, beside the
    fine-tuning's cost in the resources section."""
    timed = [r for r in classical if r.fit_s is not None]
    if not timed:
        return []
    price = typical_price(None)
    times = join(i.lang, [f"{i.name_of(r)} {duration(r.fit_s, i.lang)}" for r in timed])
    total = sum(run_cost(r.fit_s or 0.0, price) for r in timed)
    return [text(i.lang, "forecast_classical_cost", times=times, cpu=duration(sum(r.fit_cpu_s or 0 for r in timed),
                                                                              i.lang),
                 cost=money(total, price.currency, i.lang))]


def _money_row(name: str, outcome: ForecastOutcome, lang: str, currency: str, *, invested: bool = True) -> list[str]:
    """A forecaster's cost of errors, its saving with its range, and (where something was invested) the
    payback with its range."""
    low, high = outcome.saving_range
    shortest, longest = outcome.payback_range
    return [name, money(outcome.month.cost, currency, lang),
            ranged(money(outcome.saving, currency, lang), money(low, currency, lang), money(high, currency, lang)),
            ranged(payback(outcome.payback_months, lang), payback(shortest, lang), payback(longest, lang))
            if invested else "-"]
