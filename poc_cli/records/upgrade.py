"""Older records read in today's shape, in one place: each schema's additions filled in where a record
predates them, from what the record itself holds. Nothing is invented that an older poc did not
measure: sections it never had (load, placement, runtime) stay absent and their readers say so.

  schema 2 added `stage` (and `selection`): a record without a stage is a seeded run (its readers
           show no selection where there is none);
  schema 3 added `task` (its name and declared metrics) and per-example scores: a record without a
           task was text classification scored by accuracy and macro-F1, and its accuracy per
           example is whether each stored prediction equals its label.

Fixtures of real stores of every schema are in tests/fixtures/stores (tests/test_legacy_stores.py).
"""

from __future__ import annotations

from typing import Any

# What records written before the task declared its metrics (schema 3) were scored by.
LEGACY_TASK = "text-classification"
LEGACY_METRICS = [{"name": "accuracy", "unit": "fraction", "higher_is_better": True, "per_example": True},
                  {"name": "macro_f1", "unit": "fraction", "higher_is_better": True, "per_example": False}]


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with what later schemas added filled in where it lacks it (a new dict; the stored one is
    left as it is)."""
    out = dict(record)
    out.setdefault("stage", "run")
    if not out.get("task"):
        out["task"] = {"name": LEGACY_TASK, "metrics": LEGACY_METRICS}
    test = (out.get("predictions") or {}).get("test")
    if isinstance(test, dict) and "y_true" in test and "accuracy" not in (test.get("per_example") or {}):
        per_example = {**(test.get("per_example") or {}),
                       "accuracy": [float(t == p) for t, p in zip(test["y_true"], test.get("y_pred") or [])]}
        out["predictions"] = {**out["predictions"], "test": {**test, "per_example": per_example}}
    return out
