"""Older records read in today's shape, in one place: each schema's additions filled in where a record
predates them, from what the record itself holds. Nothing is invented that an older poc did not
measure: sections it never had (load, placement, runtime) stay absent and their readers say so.

  schema 2 added `stage` (and `selection`): a record without a stage is a seeded run (its readers
           show no selection where there is none);
  schema 3 added `task` (its name and declared metrics) and per-example scores: a record without a
           task was text classification scored by accuracy and macro-F1, and its accuracy per
           example is whether each stored prediction equals its label;
  schema 7 keeps one copy of the training settings, the data and the model (the job's recipe) and
           one of the allocation (`job.allocation`): a record of schema 1 to 6 also kept them in
           `job` beside the recipe, and the planned counts in `parameters` beside the allocation.
           Those copies are dropped on read, so every reader reads the one place.

The settings poc added to the recipe later (precision ...) read as their old value through the typed
sections' defaults (`sections.TrainingSettings`). Fixtures of real stores of every schema are in
tests/fixtures/stores (tests/test_legacy_stores.py).
"""

from __future__ import annotations

from typing import Any

# What records written before the task declared its metrics (schema 3) were scored by.
LEGACY_TASK = "text-classification"
LEGACY_METRICS = [{"name": "accuracy", "unit": "fraction", "higher_is_better": True, "per_example": True},
                  {"name": "macro_f1", "unit": "fraction", "higher_is_better": True, "per_example": False}]

# Schema 1 to 6: what `job` held beside its recipe (the recipe's own settings, copied).
JOB_COPIES = ("model", "task", "data", "training", "evaluation", "target_modules")
# ... and the planned counts `parameters` held beside the allocation (stored name, allocation's name).
PARAMETER_COPIES = {"budget": "budget", "adapter_counted": "adapter_parameters", "head": "head_parameters",
                    "full_model": "total_parameters", "deviation_from_budget": "deviation"}


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with what later schemas added filled in where it lacks it, and the copies of older
    schemas dropped (a new dict; the stored one is left as it is). Anything but a dict, or a section
    of the wrong type, is left for validation to name."""
    out = dict(record)
    out.setdefault("stage", "run")
    if not out.get("task"):
        out["task"] = {"name": LEGACY_TASK, "metrics": LEGACY_METRICS}
    out["predictions"] = _per_example(out.get("predictions"))
    job = out.get("job")
    if isinstance(job, dict) and isinstance(job.get("recipe"), dict):
        out["job"] = {k: v for k, v in job.items() if k not in JOB_COPIES}
        out["parameters"] = _counted_only(out.get("parameters"), job.get("allocation"))
    return out


def _per_example(predictions: Any) -> Any:
    test = predictions.get("test") if isinstance(predictions, dict) else None
    if not isinstance(test, dict) or "y_true" not in test or not isinstance(test.get("per_example") or {}, dict):
        return predictions
    if "accuracy" in (test.get("per_example") or {}):
        return predictions
    per_example = {**(test.get("per_example") or {}),
                   "accuracy": [float(t == p) for t, p in zip(test["y_true"], test.get("y_pred") or [])]}
    return {**predictions, "test": {**test, "per_example": per_example}}


def _counted_only(parameters: Any, allocation: Any) -> Any:
    """`parameters` without the planned counts it copied from the allocation (those it holds as the
    allocation does; any other value is kept, as stored)."""
    if not isinstance(parameters, dict) or not isinstance(allocation, dict):
        return parameters
    return {k: v for k, v in parameters.items()
            if k not in PARAMETER_COPIES or allocation.get(PARAMETER_COPIES[k], object()) != v}
