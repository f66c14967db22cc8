"""Stages 2 and 3 in money: what each run cost, what the production training would cost, and
what the classifier's errors and saved hours are worth a month (with the payback period).

Money is always in the recipe's currency, formatted for the report's language (money.py). A
projection is at the scale the recipe names (`cost.target_*`) or titled "at PoC scale"; a
cost per point is shown only for a significant gain.
"""

from __future__ import annotations

from typing import Any

from poc_cli.business import BusinessOutcome, business_outcome
from poc_cli.operating_point import flagged_answers, seed_point
from poc_cli.compare import MethodRow
from poc_cli.cost import Price, energy_cost, projected_cost, record_price, run_cost
from poc_cli.numbers import NBSP, duration, money, payback, percent, ranged
from poc_cli.business_spec import BusinessSpec, ForecastBusinessSpec, ServingOnlySpec
from poc_cli.records.record import StoredRecord
from poc_cli.report.common import Inputs, metric_name
from poc_cli.report.forecast_costs import forecast_business
from poc_cli.report.i18n import text
from poc_cli.report.inspection import inspection


def scale(i: Inputs) -> tuple[int, float, bool]:
    """(examples, epochs, at target scale?) of the training the cost projects."""
    run = i.any_run
    train = run.data.sizes.get("train") or 1
    ran_epochs = (run.throughput.examples or 0) / train
    spec = i.recipe.cost if i.recipe else None
    if spec and spec.target_train_examples and spec.target_epochs:
        return spec.target_train_examples, spec.target_epochs, True
    return train, ran_epochs, False


def projection(i: Inputs, row: MethodRow) -> tuple[float, float] | None:
    """(seconds, cost) of one training at the projected scale, from the row's measured throughput."""
    if not row.examples_per_s:
        return None
    examples, epochs, _ = scale(i)
    hours, cost = projected_cost(examples=examples, epochs=epochs, examples_per_s=row.examples_per_s,
                                 price=row.price)
    return hours * 3600, cost


def poc_spend(i: Inputs, price: Price | None) -> tuple[int, float, float]:
    """(training jobs, seconds of training, cost) of everything this PoC trained: runs and search trials."""
    jobs = [(r, r.timing.train_s) for r in [*i.records, *i.trial_records] if r.timing.train_s is not None]
    seconds = sum(train_s for _, train_s in jobs)
    cost = sum(run_cost(train_s, record_price(r, price)) for r, train_s in jobs)
    return len(jobs), seconds, cost


def _per_point(i: Inputs, row: MethodRow, base: MethodRow | None) -> str:
    """The extra cost of one point over the baseline: only for a significant gain over a baseline that
    learned (points over a model that learned nothing price the failure, not the method)."""
    if base is None or row is base:
        return "-"
    if base.learning is not None and base.learning.learned is False:
        return text(i.lang, "per_point_dnl", baseline=i.name_of(base))
    d = row.difference
    sign = 1.0 if row.higher_is_better else -1.0
    if d is None or not d.significant or sign * d.mean <= 0 or row.cost_per_run is None or base.cost_per_run is None:
        return text(i.lang, "per_point_ns")
    return money((row.cost_per_run - base.cost_per_run) / (100 * abs(d.mean)), i.currency, i.lang)


def _price_note(i: Inputs) -> str:
    price = i.first.price
    amount = money(price.per_hour, price.currency, i.lang)
    if price.assumed is None:
        return text(i.lang, "price_user", price=amount)
    what = text(i.lang, "what_cpu") if price.assumed == "cpu" else price.assumed
    return text(i.lang, "price_assumed", price=amount, what=what)


def cost(i: Inputs, price: Price | None) -> dict[str, Any]:
    lang, currency = i.lang, i.currency
    kwh_price = i.recipe.cost.electricity_price_per_kwh if i.recipe else 0.15
    examples, epochs, target = scale(i)
    base = next((r for r in i.rows if r.method == r.baseline), None)
    rows = []
    for r in i.trained:
        projected = projection(i, r)
        energy = (money(energy_cost(r.energy_j, kwh_price), currency, lang) if r.energy_j is not None
                  else text(lang, "not_measured"))
        row = [i.name_of(r), money(r.cost_per_run, currency, lang) + ("\u00a0‡" if r.loaded else ""), energy]
        if target:  # at PoC scale the projection would repeat the cost per run
            row.append("-" if projected is None else
                       f"{duration(projected[0], lang)} / {money(projected[1], currency, lang)}")
        rows.append([*row, _per_point(i, r, base)])
    jobs, seconds, spent = poc_spend(i, price)
    return {
        "title": text(lang, "h_cost" if target else "h_cost_poc"),
        "headers": [text(lang, "c_method"), text(lang, "c_cost_run"), text(lang, "c_energy_cost"),
                    *([text(lang, "c_projection")] if target else []),
                    text(lang, "c_per_point", baseline=i.name_of(i.baseline), metric=metric_name(lang, i.metric))],
        "rows": rows, "numeric_from": 1,
        "notes": [_price_note(i),
                  text(lang, "projection_target" if target else "projection_poc", examples=f"{examples:,}",
                       epochs=f"{epochs:g}"),
                  text(lang, "poc_cost", jobs=jobs, time=duration(seconds, lang), cost=money(spent, currency, lang))],
    }


def _rate(value: float, interval: tuple[float, float]) -> str:
    return f"{percent(value)} [{percent(interval[0])},{NBSP}{percent(interval[1])}]"


def one_training(i: Inputs, row: MethodRow) -> float:
    """What one production training of the method costs: the projection, else the PoC run's cost."""
    projected = projection(i, row)
    return projected[1] if projected else (row.cost_per_run or 0.0)


def _outcome(spec: BusinessSpec, runs: list[StoredRecord], investment: float) -> BusinessOutcome:
    """The business figures of one method's seeded runs, pooled: its answers against the labels, at
    the argmax or, where the recipe sets an operating point, at each run's validation threshold."""
    runs = [run for run in runs if run.test_predictions]
    if spec.operating_point:
        positive = list(runs[0].data.labels).index(spec.positive_class)
        answers = [flagged_answers(seed_point(spec, run), run, positive) for run in runs]
    else:
        answers = [run.test_predictions.answers() for run in runs]
    return business_outcome(spec, y_true=[y for run in runs for y in run.test_predictions.truth()],
                            y_pred=[y for answer in answers for y in answer],
                            labels=runs[0].data.labels, investment=investment, seeds=len(runs))


def business(i: Inputs, price: Price | None) -> dict[str, Any]:
    """The business tables, or the one line saying what a business block would add. Rates carry their
    intervals, the monthly value its parts and its range, the payback its range in words."""
    lang, currency = i.lang, i.currency
    if i.recipe is None or i.recipe.business is None or isinstance(i.recipe.business, ServingOnlySpec):
        return {"missing": text(lang, "no_business")}
    spec = i.recipe.business
    _, _, poc = poc_spend(i, price)
    _, _, target = scale(i)
    if isinstance(spec, ForecastBusinessSpec):
        return forecast_business(i, spec, investment={r.method: one_training(i, r) + poc for r in i.trained}, poc=poc)
    rates, months, flags = [], [], []
    payback_example = unreliable = None
    for r in i.trained:
        training = one_training(i, r)
        outcome = _outcome(spec, list(i.ok_runs[r.method].values()), training + poc)
        payback_example = payback_example or (r, training)
        unreliable = unreliable or (None if outcome.reliable else outcome)
        if outcome.detects_nothing:
            flags.append(text(lang, "detects_nothing", method=i.name_of(r), n=f"{outcome.positives:,}",
                              value=money(outcome.monthly_value, currency, lang)))
        rates.append([i.name_of(r), _rate(outcome.detection_rate, outcome.detection_interval),
                      _rate(outcome.false_alarm_rate, outcome.false_alarm_interval),
                      percent(outcome.precision),
                      f"{outcome.true_positives:,} / {outcome.false_negatives:,} / {outcome.false_positives:,} / "
                      f"{outcome.true_negatives:,}"])
        month, (low, high) = outcome.month, outcome.value_range
        shortest, longest = outcome.payback_range
        months.append([i.name_of(r), f"{month.hours_saved:,.0f}{NBSP}h / {money(month.work_value, currency, lang)}",
                       f"{month.missed:,.0f} / {money(month.missed_cost, currency, lang)}",
                       f"{month.false_alarms:,.0f} / {money(month.alarm_cost, currency, lang)}",
                       ranged(money(month.value, currency, lang), money(low, currency, lang),
                              money(high, currency, lang)),
                       ranged(payback(outcome.payback_months, lang), payback(shortest, lang), payback(longest, lang))])
    notes = [text(lang, "business_note", positive=spec.positive_class, items=f"{spec.monthly_items:,}",
                  minutes=f"{spec.minutes_per_item:g}", missed=money(spec.cost_missed, currency, lang),
                  alarm=money(spec.cost_false_alarm, currency, lang))]
    if payback_example:
        row, training = payback_example
        notes.append(text(lang, "payback_note", which=text(lang, "payback_target" if target else "payback_poc"),
                          training_cost=money(training, currency, lang), method=i.name_of(row),
                          poc=money(poc, currency, lang)))
    warnings = flags
    if unreliable is not None:
        warnings = [text(lang, "business_unreliable", n=f"{unreliable.positives:,}",
                         needed=f"{unreliable.positives_for_reliable:,}"), *flags]
    return {
        "missing": None,
        "warnings": warnings,
        "rates": {"headers": [text(lang, k) for k in ("c_method", "c_detection", "c_false_alarm", "c_precision",
                                                      "c_confusion")], "rows": rates, "numeric_from": 1},
        "monthly": {"headers": [text(lang, k) for k in ("c_method", "c_work", "c_missed_cost", "c_alarm_cost",
                                                        "c_value", "c_payback")],
                    "rows": months, "numeric_from": 1},
        "notes": notes,
        "inspection": inspection(i, spec),
    }
