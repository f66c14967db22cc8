"""A record as flat named columns: the one flattening that `load_frame` (pandas) and the MLflow
export (params and metrics) take their columns from, so a figure has one name and one source.

Each column is a function of the typed record; a column a record cannot fill is None. Scores come
apart, by split: `declared` (the task's metrics on test, by their names, as `load_frame` shows them)
and `split_scores` (everything each split stores, as `test_accuracy`, `validation_n` ..., as MLflow
logs them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from poc_cli.records.record import StoredRecord

Column = Callable[[StoredRecord], Any]


def _primary_score(r: StoredRecord) -> Any:
    return r.test.get(r.task.primary.name)


COLUMNS: dict[str, Column] = {
    "recipe": lambda r: r.recipe_name,
    "method": lambda r: r.method,
    "method_kind": lambda r: r.method_kind,
    "seed": lambda r: r.seed,
    "job_id": lambda r: r.job_id,
    "status": lambda r: r.status.value,
    "stage": lambda r: r.stage.value,
    "error": lambda r: r.error,
    "settings": lambda r: r.job.allocation.settings,
    "setting": lambda r: json.dumps(r.job.allocation.settings, sort_keys=True),
    "lr": lambda r: r.job.method.lr,
    "alpha_ratio": lambda r: r.job.method.alpha_ratio,
    "chosen_by": lambda r: r.selection.how if r.selection else None,
    "model": lambda r: r.job.recipe.model,
    "task": lambda r: r.task.name,
    "precision": lambda r: r.job.recipe.training.precision,
    "trainable_parameters": lambda r: r.parameters.trainable_counted,
    "effective_parameters": lambda r: r.parameters.trainable_effective,
    "adapter_parameters": lambda r: r.job.allocation.adapter_parameters if r.built else None,
    "budget_parameters": lambda r: r.job.allocation.budget,
    "metric": lambda r: r.task.primary.name,  # the task's primary metric (declared in the record)
    "score": _primary_score,
    "train_s": lambda r: r.timing.train_s,
    "total_s": lambda r: r.timing.total_s,
    "examples_per_s": lambda r: r.throughput.examples_per_s,
    "host_peak_rss_mib": lambda r: r.memory.host_peak_rss_mib,
    "host_tree_peak_rss_mib": lambda r: r.memory.host_tree_peak_rss_mib,
    "gpu_peak_job_mib": lambda r: r.gpu.peak_job_mib,
    "torch_peak_allocated_mib": lambda r: r.memory.torch_peak_allocated_mib,
    "energy_j": lambda r: r.energy.energy_j,
    "adapter_bytes": lambda r: r.adapter.bytes,
}


def flat(record: StoredRecord, columns: tuple[str, ...]) -> dict[str, Any]:
    """The record's values of `columns` (names of `COLUMNS`)."""
    return {name: COLUMNS[name](record) for name in columns}


def declared(record: StoredRecord) -> dict[str, Any]:
    """Each metric the task declared, scored on test (None where the job was not scored)."""
    return {m.name: record.test.get(m.name) for m in record.task.metrics}


def split_scores(record: StoredRecord, splits: tuple[str, ...] = ("test", "validation")) -> dict[str, Any]:
    """Everything each split stores (declared metrics, `n`, and what else the task stored there), as
    `<split>_<name>`."""
    out: dict[str, Any] = {}
    for split in splits:
        held = record.metrics.get(split)
        if held is not None:
            out |= {f"{split}_{name}": value for name, value in held.model_dump(exclude_unset=True).items()}
    return out
