"""Executors: where the jobs of a run execute. The recipe says what runs; the command says where.

An executor only transports a job: it runs it with `poc_cli.isolation.run_isolated` somewhere
(a slot of this machine, a Ray worker) and hands its record back to the driver, which alone
writes the store. A new executor is one module with a class of this protocol.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from poc_cli.hardware import Facts
    from poc_cli.isolation import EventCallback
    from poc_cli.plan import Job
    from poc_cli.recipe import TrainingSpec
    from poc_cli.worker import Attempt


@dataclass(frozen=True)
class Finished:
    """A job's record as it came back, and what the driver moves into the store beside it: the
    adapter folder and the log, when they are on the driver's disk but not yet in place."""

    record: dict[str, Any]
    adapter: Path | None = None
    log: Path | None = None


class Executor(Protocol):
    """Runs jobs, `slots` of them at once, each from its own driver thread."""

    name: str
    slots: int

    def start(self) -> None:
        """Called once from the main thread before the first job (signal handlers can only be set there)."""
        ...

    def facts(self, training: TrainingSpec) -> Facts:
        """What the machines the jobs run on make of `training` (problems, precision `auto`)."""
        ...

    def run(self, job: Job, attempt: Attempt, *, stop: threading.Event, on_event: EventCallback) -> Finished:
        """Run one job to its end (or until `stop` is set: interrupted) and return its record;
        never raises for anything the job did."""
        ...

    def close(self) -> None:
        """Let go of what the executor holds (a Ray connection)."""
        ...
