"""Stage 3 of a forecasting PoC: turn each method's forecast errors into money per month.

A unit forecast too low is a lost sale (`under_forecast_cost`), a unit too high is stock held
or thrown away (`over_forecast_cost`). On the test windows, per unit of actual demand:
  error cost rate = (under units x under cost + over units x over cost) / actual units
  monthly cost    = rate x `monthly_volume` (the units the forecasts cover per month)
  saving          = the baseline's monthly cost - the method's, where the baseline is, with
                    `current_mase`, the company's own forecasts: seasonal naive's cost scaled by
                    current_mase / seasonal naive's MASE on the same test (an estimate: it assumes
                    today's errors split into too low and too high as seasonal naive's do); else
                    the best classical forecast the recipe fitted (AutoETS, AutoARIMA or AutoTheta:
                    what planners would otherwise use, the honest counterfactual); else seasonal naive
  payback         = investment / saving (months; none when the saving is not positive)
Each figure averages the seeds per series (every seed forecasts the same test windows); the
saving's 95% range is a bootstrap over series (2,000 resamples, seeded), and the payback's range
follows from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from poc_cli.business import payback_months
from poc_cli.business_spec import ForecastBusinessSpec

RESAMPLES = 2000
SEED = 0


@dataclass(frozen=True)
class Errors:
    """Per series (averaged over seeds): units under- and over-forecast, summed over the horizon."""

    under: np.ndarray
    over: np.ndarray


@dataclass(frozen=True)
class Month:
    """A forecaster's month: units short, units in excess, and what they cost."""

    under_units: float
    over_units: float
    cost: float


@dataclass(frozen=True)
class ForecastOutcome:
    """One method's monthly figures against the baseline (seasonal naive, or today's forecasts)."""

    month: Month
    baseline_cost: float  # the baseline's monthly cost of errors
    against: str  # "current" (business.current_mase), "classical" (the best classical row) or "seasonal-naive"
    saving: float
    saving_range: tuple[float, float]
    payback_months: float | None
    payback_range: tuple[float | None, float | None]  # (shortest, longest); None: may never pay back


def errors(actual: Sequence[Sequence[Sequence[float]]], forecast: Sequence[Sequence[Sequence[float]]]) -> Errors:
    """Each series' units too low and too high, from seeds x series x horizon values, averaged over seeds."""
    y, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    return Errors(under=np.clip(y - f, 0, None).sum(-1).mean(0), over=np.clip(f - y, 0, None).sum(-1).mean(0))


def _cost(spec: ForecastBusinessSpec, e: Errors, demand: np.ndarray, rows: np.ndarray) -> tuple[float, float, float]:
    """Monthly units under, units over and their cost, from the series `rows`."""
    total = float(demand[rows].sum())
    under = float(e.under[rows].sum()) / total * spec.monthly_volume
    over = float(e.over[rows].sum()) / total * spec.monthly_volume
    return under, over, under * spec.under_forecast_cost + over * spec.over_forecast_cost


def month_of(spec: ForecastBusinessSpec, e: Errors, demand: np.ndarray) -> Month:
    """A forecaster's month over every test series."""
    return Month(*_cost(spec, e, demand, np.arange(len(demand))))


def against(spec: ForecastBusinessSpec, classical: Errors | None) -> str:
    """What savings are measured against (see the module's docstring)."""
    return "current" if spec.current_mase is not None else "classical" if classical is not None else "seasonal-naive"


def forecast_outcome(spec: ForecastBusinessSpec, *, method: Errors, naive: Errors, demand: np.ndarray,
                     naive_mase: np.ndarray, investment: float, classical: Errors | None = None) -> ForecastOutcome:
    """A method's monthly error cost and its saving against the baseline; `demand` is each series' actual
    units over the horizon, `naive_mase` each series' seasonal-naive MASE on test, `classical` the best
    classical forecast's errors where the recipe fitted one."""
    every = np.arange(len(demand))
    versus = against(spec, classical)

    def saving(rows: np.ndarray) -> tuple[float, float, Month]:
        under, over, cost = _cost(spec, method, demand, rows)
        baseline = _cost(spec, classical if versus == "classical" else naive, demand, rows)[2]  # type: ignore[arg-type]
        if versus == "current":
            baseline *= spec.current_mase / float(naive_mase[rows].mean())  # type: ignore[operator]
        return baseline - cost, baseline, Month(under, over, cost)

    value, baseline, month = saving(every)
    rng = np.random.default_rng(SEED)
    draws = [saving(rng.integers(0, len(demand), len(demand)))[0] for _ in range(RESAMPLES)]
    low, high = (float(v) for v in np.percentile(draws, [2.5, 97.5]))
    return ForecastOutcome(month=month, baseline_cost=baseline, against=versus, saving=value, saving_range=(low, high), payback_months=payback_months(investment, value),
                           payback_range=(payback_months(investment, high), payback_months(investment, low)))
