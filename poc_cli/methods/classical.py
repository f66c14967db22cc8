"""The forecasts planners make today: AutoETS, AutoARIMA and AutoTheta from statsforecast, as reference rows.

A fine-tuned forecaster pays off only where it beats what the planning department already runs,
and that is exponential smoothing, ARIMA or Theta, not seasonal naive. Each is one reference row
(`references:` in a forecasting recipe): nothing trains, no neural model is loaded; every series is
fitted by the library on its whole history before the window it forecasts (the test window's: never a
value inside or after it), with the recipe's `season_length`, in parallel over the machine's cores.
Its forecasts are stored and scored per series exactly as a method's are, so every paired test,
ranking and price reads them the same way.

statsforecast already falls back inside its models where a series is short (a non-seasonal fit under
two seasons); where a model refuses a series outright (AutoETS on a handful of points) the series is
forecast by statsforecast's SeasonalNaive, the fallback its own `StatsForecast(fallback_model=...)`
takes, and the record counts both.
"""

from __future__ import annotations

import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from poc_cli.specs import ReferenceBase

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture

FORECASTING_EXTRA = "pip install 'poc-cli[forecasting]'"
# The recipe's names, statsforecast's classes.
MODELS = {"auto_ets": "AutoETS", "auto_arima": "AutoARIMA", "auto_theta": "AutoTheta"}
SEASONAL_NAIVE = "seasonal_naive"  # the trivial row every forecasting store has (computed, nothing to fit)
DEFAULT_REFERENCES = (SEASONAL_NAIVE, *MODELS)
Name = Literal["auto_ets", "auto_arima", "auto_theta"]


class ClassicalSpec(ReferenceBase):
    """A classical reference row the plan adds for `references:` (not written under `methods`)."""

    method: Name


SPEC = ClassicalSpec

FITTED = False
TRAINS = False
FROZEN_BASE = True  # no model at all
QUANTIZABLE = True
SAVES = None
COLOUR = "#7f7f7f"


def count(arch: Architecture, r: int | None = None, spec: ClassicalSpec | None = None) -> int:
    """Nothing trains."""
    del arch, r, spec
    return 0


def fit(arch: Architecture, target: int, spec: ClassicalSpec | None = None) -> None:
    """Nothing to fit to a budget."""
    del arch, target, spec


def settings(spec: ClassicalSpec, r: int | None = None) -> dict[str, str]:
    """The library model it runs."""
    del r
    return {"model": f"statsforecast {MODELS[spec.method]}"}


def implementation(spec: ClassicalSpec) -> str:
    """The library, its version and the model that ran (for the record)."""
    import statsforecast

    return f"statsforecast {statsforecast.__version__} {MODELS[spec.method]}"


MODEL_FREE = True  # the worker builds no model: it fits `forecast` on each test series' history (model_free.py)


def apply(model: nn.Module, *, spec: ClassicalSpec, r: int | None, arch: Architecture, seed: int) -> nn.Module:
    """Never called: a classical row builds no model (`MODEL_FREE`)."""
    raise TypeError(f"{spec.method} forecasts without a neural model")


def unsupported() -> str | None:
    """Why the installed libraries cannot run it (None: they can)."""
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        return f"statsforecast is not installed: {FORECASTING_EXTRA}"
    return None


@dataclass(frozen=True)
class Fitted:
    """Every series' forecast by one model, and how it went."""

    forecasts: list[list[float]]
    seconds: float  # wall time of the fits
    cpu_seconds: float  # summed over the processes that fitted
    short: int  # series under two seasons (statsforecast fits them without seasonality)
    fell_back: list[int]  # the series (by position) the model refused, forecast by SeasonalNaive instead
    workers: int


def _one(model_name: str, season: int, horizon: int, history: np.ndarray) -> tuple[list[float], str | None, float]:
    """One series: the model's mean forecast, or SeasonalNaive's with the model's reason; and its CPU time."""
    import statsforecast.models as library

    started = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mean = library.__dict__[MODELS[model_name]](season_length=season).forecast(y=history, h=horizon)["mean"]
            if np.all(np.isfinite(mean)):
                return [float(v) for v in mean], None, time.process_time() - started
            reason = "a forecast that is not finite"
        except Exception as error:  # noqa: BLE001 - statsforecast's models raise what they raise
            reason = f"{type(error).__name__}: {error}"
        fallback = library.SeasonalNaive(season_length=min(season, len(history))).forecast(y=history, h=horizon)
    return [float(v) for v in fallback["mean"]], reason[:200], time.process_time() - started


def _chunk(args: tuple[str, int, int, list[np.ndarray]]) -> list[tuple[list[float], str | None, float]]:
    model_name, season, horizon, histories = args
    return [_one(model_name, season, horizon, h) for h in histories]


def forecast(model_name: str, histories: list[list[float]], *, season: int, horizon: int,
             workers: int | None = None) -> Fitted:
    """Fit `model_name` on each history and forecast `horizon` points, over `workers` processes (default:
    the cores this process may use)."""
    arrays = [np.asarray(h, dtype=float) for h in histories]
    workers = max(1, min(workers or len(os.sched_getaffinity(0)), len(arrays)))
    started = time.perf_counter()
    chunks = [(model_name, season, horizon, arrays[k::workers]) for k in range(workers)]
    if workers == 1:
        done = [_chunk(chunks[0])]
    else:  # forked: the job's process already holds what the fits need
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            done = list(pool.map(_chunk, chunks))
    results: list[Any] = [None] * len(arrays)
    for k, part in enumerate(done):
        results[k::workers] = part
    return Fitted(forecasts=[r[0] for r in results], seconds=time.perf_counter() - started,
                  cpu_seconds=sum(r[2] for r in results), short=sum(len(h) < 2 * season for h in arrays),
                  fell_back=[k for k, r in enumerate(results) if r[1] is not None], workers=workers)


SAMPLE = 6  # series the plan fits to estimate a row's time (AutoARIMA: about a second each on one core)


def estimated_seconds(model_name: str, histories: list[list[float]], *, season: int, horizon: int) -> float:
    """How long fitting every history will take: a few fitted here (spread over the list, on one core),
    scaled to all of them over the cores the job will use."""
    step = max(1, len(histories) // SAMPLE)
    sample = histories[::step][:SAMPLE]
    fitted = forecast(model_name, sample, season=season, horizon=horizon, workers=1)
    workers = max(1, min(len(os.sched_getaffinity(0)), len(histories)))
    return fitted.seconds / max(1, len(sample)) * len(histories) / workers
