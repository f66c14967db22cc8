"""The business section of a forecasting report: each method's forecast errors in units and money
per month, its saving against seasonal naive (or the company's forecasts today) and the payback.

Same shape as the classification section (`costs.business`): a first table of the errors, a
second of the money, notes that say how each figure was made. Every number comes from the stored
test forecasts (forecast_business.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from poc_cli.forecast_business import ForecastOutcome, errors, forecast_outcome, month_of
from poc_cli.numbers import money, payback, ranged
from poc_cli.learning import trivial
from poc_cli.recipe import ForecastBusinessSpec
from poc_cli.records.record import StoredRecord
from poc_cli.report.common import Inputs
from poc_cli.report.i18n import text


def _stored(runs: list[StoredRecord], key: str) -> list[list[list[float]]]:
    """Each run's forecasts on test (`forecast`, `actual` ...) as the forecasting task stored them."""
    return [run.test_predictions.value(key) if run.test_predictions else None for run in runs]  # type: ignore[misc]


def forecast_business(i: Inputs, spec: ForecastBusinessSpec, *, investment: dict[str, float],
                      poc: float) -> dict[str, Any]:
    """The two tables and their notes; `investment` is each method's production training plus `poc`."""
    lang, currency = i.lang, i.currency
    first = list(i.ok_runs[i.trained[0].method].values()) if i.trained else []
    if not first:
        return {"missing": text(lang, "no_business")}
    actual = _stored(first[:1], "actual")
    demand = np.asarray(actual[0], dtype=float).sum(-1)
    naive = errors(actual, _stored(first[:1], "naive"))
    naive_row = trivial(first[0])
    if naive_row is None:
        return {"missing": text(lang, "no_business")}
    naive_mase = np.asarray(naive_row.per_example["mase"], dtype=float)
    units, months, baseline, against = [], [], 0.0, "seasonal-naive"

    def unit_row(name: str, month: Any) -> list[str]:
        return [name, f"{month.under_units:,.0f}", f"{month.over_units:,.0f}", money(month.cost, currency, lang)]

    units.append(unit_row(text(lang, "name_seasonal-naive"), month_of(spec, naive, demand)))
    warnings = []
    if spec.current_mase is not None:  # seasonal naive itself, against today's forecasts: what learning nothing saves
        months.append(_money_row(text(lang, "name_seasonal-naive"), forecast_outcome(
            spec, method=naive, naive=naive, demand=demand, naive_mase=naive_mase, investment=0.0), lang, currency,
            invested=False))
    for row in i.trained:
        runs = list(i.ok_runs[row.method].values())
        mine = errors(_stored(runs, "actual"), _stored(runs, "forecast"))
        outcome = forecast_outcome(spec, method=mine, naive=naive, demand=demand, naive_mase=naive_mase,
                                   investment=investment[row.method])
        units.append(unit_row(i.name_of(row), outcome.month))
        months.append(_money_row(i.name_of(row), outcome, lang, currency))
        baseline, against = outcome.baseline_cost, outcome.against
        if row.learning is not None and row.learning.learned is False:
            warnings.append(text(lang, "forecast_dnl", method=i.name_of(row)))
    notes = [text(lang, "forecast_business_note", under=money(spec.under_forecast_cost, currency, lang),
                  over=money(spec.over_forecast_cost, currency, lang), volume=f"{spec.monthly_volume:,.0f}"),
             text(lang, f"forecast_against_{against}", cost=money(baseline, currency, lang),
                  mase=f"{spec.current_mase or 0:g}", naive=f"{float(naive_mase.mean()):.3f}"),
             text(lang, "forecast_payback_note", poc=money(poc, currency, lang))]
    return {
        "missing": None, "warnings": warnings,
        "rates": {"headers": [text(lang, k) for k in ("c_method", "c_under_units", "c_over_units", "c_error_cost")],
                  "rows": units, "numeric_from": 1},
        "monthly": {"headers": [text(lang, k) for k in ("c_method", "c_error_cost", f"c_saving_{against}",
                                                        "c_payback")],
                    "rows": months, "numeric_from": 1},
        "notes": notes,
    }


def _money_row(name: str, outcome: ForecastOutcome, lang: str, currency: str, *, invested: bool = True) -> list[str]:
    """A forecaster's cost of errors, its saving with its range, and (where something was invested) the
    payback with its range."""
    low, high = outcome.saving_range
    shortest, longest = outcome.payback_range
    return [name, money(outcome.month.cost, currency, lang),
            ranged(money(outcome.saving, currency, lang), money(low, currency, lang), money(high, currency, lang)),
            ranged(payback(outcome.payback_months, lang), payback(shortest, lang), payback(longest, lang))
            if invested else "-"]
