"""A reference row that needs no neural model (forecasting's classical rows): the whole job, instead of
load, adapt, train and evaluate.

The method fits its library model on each test series' history (`method.forecast`); the task scores
the forecasts exactly as it scores a model's (`task.scored`), so the record is read like any other.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from poc_cli.data import load_splits
from poc_cli.environment import environment
from poc_cli.plan import Job
from poc_cli.result import Record
from poc_cli.tasks import task_for
from poc_cli.trackers.timing import Stopwatch


def run_without_model(job: Job, method: ModuleType, record: Record, *, emit: Any) -> None:
    """Read the splits, fit every test series on its history, score the forecasts, and record the fits'
    time and which series fell back."""
    task = task_for(job.recipe)
    record.environment = environment()
    emit(event="phase", phase="load")
    with Stopwatch() as load:
        splits = load_splits(job.recipe.data, task, include_test=True)
    record.timing["load_s"] = load.result.seconds
    record.data = {"sources": [s.__dict__ for s in splits.sources], "sizes": splits.sizes(), "labels": []}
    emit(event="phase", phase="fit")
    test = splits.test
    assert test is not None  # include_test
    fitted = method.forecast(job.method.method, test["history"].tolist(), season=task.season,  # type: ignore[attr-defined]
                             horizon=task.horizon)  # type: ignore[attr-defined]
    predictions = task.scored(test, fitted.forecasts)  # type: ignore[attr-defined]
    record.metrics["test"] = task.evaluate(predictions, ())
    record.predictions["test"] = predictions
    record.timing.update(fit_s=fitted.seconds, fit_cpu_s=fitted.cpu_seconds)
    names = test["series"].tolist()
    record.runtime = {"device": "cpu", "device_name": "cpu", "implementation": method.implementation(job.method),
                      "workers": fitted.workers, "series_short": fitted.short,
                      "series_fell_back": [names[k] for k in fitted.fell_back]}
    record.adapter = {"kind": "nothing trained", "path": None, "bytes": None}
