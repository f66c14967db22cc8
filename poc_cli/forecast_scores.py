"""How forecasts are scored, as the forecasting competitions score them (M3, M4, Tourism).

Scores are per series, so that the paired statistics can treat a series as the unit, as they
treat an example in classification; a split's score is their mean.
  - MASE: the mean absolute error over the horizon, divided by the in-sample mean absolute
    error of the seasonal-naive forecast (the value one season earlier) on the series' own
    history. Scale-free, so a series of thousands of units weighs as one of tens; below 1 means
    better than seasonal naive was in-sample.
  - sMAPE: the mean of 2|y - f| / (|y| + |f|) over the horizon (a fraction; the competitions print
    it times 100). A point where both are 0 counts 0.
  - weighted quantile loss (models that forecast quantiles): the pinball loss summed over series,
    points and quantiles, times 2, over the sum of |y| times the number of quantiles (GluonTS'
    mean weighted quantile loss). It weighs series by their size, so it is not a mean per series.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def seasonal_scale(history: Sequence[float], season: int) -> float:
    """The in-sample mean absolute error of the seasonal-naive forecast (MASE's denominator);
    0 for a history that repeats itself exactly (MASE is then undefined)."""
    values = np.asarray(history, dtype=float)
    if len(values) <= season:
        return 0.0
    return float(np.mean(np.abs(values[season:] - values[:-season])))


def seasonal_naive(history: Sequence[float], season: int, horizon: int) -> list[float]:
    """The last season of the history repeated over the horizon."""
    last = list(history[-season:])
    return [float(last[k % season]) for k in range(horizon)]


def mase(actual: Sequence[float], forecast: Sequence[float], scale: float) -> float:
    """One series' MASE (`scale`: `seasonal_scale` of its history, positive)."""
    return float(np.mean(np.abs(np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float))) / scale)


def smape(actual: Sequence[float], forecast: Sequence[float]) -> float:
    """One series' sMAPE as a fraction (0 to 2)."""
    y, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    denominator = np.abs(y) + np.abs(f)
    terms = np.divide(2 * np.abs(y - f), denominator, out=np.zeros_like(y), where=denominator > 0)
    return float(np.mean(terms))


def quantile_loss(actual: Sequence[float], quantiles: np.ndarray, levels: Sequence[float]) -> float:
    """Twice the pinball loss of one series, summed over its points and the quantile `levels`
    (`quantiles`: points x levels)."""
    y = np.asarray(actual, dtype=float)[:, None]
    q = np.asarray(levels, dtype=float)[None, :]
    error = y - np.asarray(quantiles, dtype=float)
    return float(2 * np.sum(np.maximum(q * error, (q - 1) * error)))


def weighted_quantile_loss(losses: Sequence[float], actual: Sequence[Sequence[float]], levels: int) -> float | None:
    """The split's weighted quantile loss from each series' `quantile_loss` (None: all actuals are 0)."""
    total = float(sum(np.abs(np.asarray(a, dtype=float)).sum() for a in actual))
    return float(sum(losses)) / (total * levels) if total > 0 else None


def scores(actual: list[list[float]], forecast: list[list[float]], scales: list[float]) -> dict[str, list[float]]:
    """Per-series MASE and sMAPE of one forecast of every series."""
    return {"mase": [mase(y, f, s) for y, f, s in zip(actual, forecast, scales)],
            "smape": [smape(y, f) for y, f in zip(actual, forecast)]}
