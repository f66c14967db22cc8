"""From `poc run`'s options to an executor: which options go with which executor, checked first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from poc_cli.errors import UsageError
from poc_cli.executors import Executor
from poc_cli.recipe import TrainingSpec

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Where:
    """Where `poc run` runs the jobs, as the command line said."""

    executor: str = "local"
    parallel: int = 1
    gpus: str | None = None
    ray_address: str | None = None
    gpus_per_job: float | None = None
    cpus_per_job: float | None = None
    artifacts: Path | None = None


def _only_with(where: Where, executor: str, options: dict[str, object]) -> None:
    for option, value in options.items():
        if value is not None:
            raise UsageError(f"{option}: only with --executor {executor} (this run uses --executor {where.executor})")


def open_executor(where: Where, training: TrainingSpec) -> Executor:
    """The executor `where` names, connected and checked; UsageError names the option that is wrong."""
    if where.executor not in EXECUTORS:
        raise UsageError(f"--executor: {where.executor!r} is not one of {', '.join(EXECUTORS)}")
    if where.executor == "local":
        _only_with(where, "ray", {"--ray-address": where.ray_address, "--gpus-per-job": where.gpus_per_job,
                                  "--cpus-per-job": where.cpus_per_job, "--artifacts": where.artifacts})
        from poc_cli.executors.local import LocalExecutor, local_slots

        return LocalExecutor(local_slots(training, parallel=where.parallel, gpus=where.gpus))
    _only_with(where, "local", {"--gpus": where.gpus, "--parallel": None if where.parallel == 1 else where.parallel})
    from poc_cli.executors.ray_cluster import RayExecutor

    return RayExecutor.connect(address=where.ray_address or "auto", gpus_per_job=where.gpus_per_job,
                               cpus_per_job=where.cpus_per_job if where.cpus_per_job is not None else 1.0,
                               artifacts=where.artifacts)
