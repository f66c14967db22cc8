"""The driver of `poc run`: it hands jobs to an executor as slots free up, and it alone writes the store.

Stage 1 (the search trials) and stage 2 (the seeded runs) overlap: a method's seeded runs start
as soon as its own trials are done, ahead of other methods' trials still queued; a halving
search's next rung is released the same way, when its current rung has ended. Every job ends
with a record, committed here; a failed job never stops the others, except that a full disk
stops the run (every later job would fail the same way) once the running ones have ended.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from poc_cli.errors import PocError
from poc_cli.executors import Executor, Finished
from poc_cli.edges import extend
from poc_cli.halving import Ladder, checkpoints_done_with, climb, decide
from poc_cli.isolation import EventCallback
from poc_cli.paths import DISK_FULL, is_full, why
from poc_cli.plan import Job, Plan
from poc_cli.records.sections import EdgeSteps
from poc_cli.records.status import Stage, Status
from poc_cli.search import Choice, NoChoice
from poc_cli.store import Store
from poc_cli.tasks import search_objective
from poc_cli.worker import Attempt, failure_record

POLL_S = 0.2


@dataclass(frozen=True)
class Outcome:
    """How one job of a run ended."""

    job: Job
    status: Status
    skipped: bool
    error: str | None = None
    disk_full: bool = False  # the store's disk filled up: the jobs after this one would fail too
    stored: bool = True  # False: the job ran, but its record could not be written (it runs again next time)


NOT_STORED = "no record could be written"


class DiskFull(PocError):
    """The store's disk filled up during a job; the run stops (every later job would fail the same way)."""


@dataclass(frozen=True)
class RunResult:
    """What `poc run` did: the trials, the seeded runs, and the methods held back without a setting."""

    trials: list[Outcome]
    chosen: dict[int, Choice]  # method index -> its searched setting
    runs: list[Outcome]
    held: dict[str, str]  # method -> why its seeded runs did not start

    @property
    def ok(self) -> bool:
        """Every seeded run finished ok and no method was held back (diverged trials are fine)."""
        return not self.held and all(o.status is Status.OK for o in self.runs)


def ladder_for(plan: Plan, store: Store, index: int) -> Ladder:
    """A searched method's trials as stored, rung by rung (one rung for a grid search)."""
    objective = search_objective(plan.recipe)
    return climb(plan.trials[index], lambda job: store.read(job.recipe.name, job.id, Stage.TRIAL), objective.name,
                 objective.higher_is_better)


def beyond_grid(plan: Plan, store: Store, index: int, seen: Callable[[Job], bool]) -> tuple[Choice | None, Job | None]:
    """A searched method's setting from its stored trials, those added beyond its grid's ends included
    (NoChoice says why there is none); or the next trial to add. `seen(job)`: whether the job ended (ran, or
    was found done) in this run: every added trial passes through the driver, so a run lists it, and one
    that failed in an earlier run runs again."""
    assert plan.recipe.search is not None
    ladder = ladder_for(plan, store, index)
    label = plan.allocations[index].label

    def read(job: Job) -> dict[str, Any] | None:
        if not seen(job):
            return None
        return store.read(job.recipe.name, job.id, Stage.TRIAL) or {"status": "missing"}  # not stored: no choice

    found = extend(lambda added: decide(plan.recipe, label, ladder, added), [p for p, _ in plan.trials[index]],
                   plan.recipe.search.edge_steps, lambda point: plan.added_trial(index, point), read)
    if found.pending is not None:
        return None, found.pending
    edge = EdgeSteps(added=len(found.added), limit=plan.recipe.search.edge_steps, reached=found.reached)
    return Choice(found.choice.point, found.choice.selection.model_copy(update={"edge": edge})), None


def _drop_checkpoints(paths: list[str]) -> None:
    """Halving checkpoints no later rung needs (a full fine-tuning one is the whole model and its
    optimizer state): removed as soon as they are done with."""
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _crashed(job: Job, attempt: Attempt, error: BaseException) -> Finished:
    """The record of a job whose executor itself failed (a bug, a lost connection): failed, saying why."""
    detail = f": {str(error).splitlines()[0][:300]}" if str(error) else ""
    return Finished(failure_record(job, attempt, Status.FAILED,
                                   f"the executor failed to run the job: {type(error).__name__}{detail}").to_dict())


@dataclass
class _Driver:
    """The queue of ready jobs, the running ones, and what came back."""

    store: Store
    executor: Executor
    on_event: EventCallback
    on_outcome: Callable[[Outcome], None]
    release: Callable[[Job], Iterable[Job]]  # the jobs a finished one makes ready
    ready: deque[Job] = field(default_factory=deque)
    outcomes: dict[tuple[Stage, str], Outcome] = field(default_factory=dict)
    disk_full: bool = False

    def _attempt(self, job: Job) -> Attempt:
        attempt = uuid.uuid4().hex
        return Attempt(attempt, self.store.attempts_dir(job.recipe.name) / attempt,
                       self.store.log_path(job.recipe.name, job.id, job.stage))

    def _commit(self, job: Job, attempt: Attempt, finished: Finished) -> Outcome:
        record = finished.record
        error = record.get("error")
        try:
            self.store.commit(record, adapter=finished.adapter, log=finished.log)
        except OSError as failure:
            return Outcome(job=job, status=Status(record["status"]), skipped=False, disk_full=is_full(failure),
                           error=(error + "; " if error else "") + f"{NOT_STORED} ({why(failure)})", stored=False)
        finally:
            shutil.rmtree(attempt.folder, ignore_errors=True)
        return Outcome(job=job, status=Status(record["status"]), skipped=False, error=error,
                       disk_full=bool(error and DISK_FULL in error))

    def _finish(self, outcome: Outcome) -> None:
        self.outcomes[(outcome.job.stage, outcome.job.id)] = outcome
        self.disk_full = self.disk_full or outcome.disk_full
        self.on_outcome(outcome)
        self.ready.extendleft(reversed(list(self.release(outcome.job))))  # ahead of what waits

    def _result(self, future: Future[Finished], job: Job, attempt: Attempt) -> Outcome:
        error = future.exception()
        return self._commit(job, attempt, _crashed(job, attempt, error) if error else future.result())

    def run(self, jobs: Iterable[Job]) -> None:
        self.ready.extend(jobs)
        self.executor.start()
        stop = threading.Event()
        running: dict[Future[Finished], tuple[Job, Attempt]] = {}
        with ThreadPoolExecutor(max_workers=self.executor.slots, thread_name_prefix="poc-job") as pool:
            try:
                while running or (self.ready and not self.disk_full):
                    while self.ready and len(running) < self.executor.slots and not self.disk_full:
                        job = self.ready.popleft()
                        if self.store.is_done(job.recipe.name, job.id, job.stage):
                            stored = self.store.read(job.recipe.name, job.id, job.stage) or {}
                            self._finish(Outcome(job=job, status=Status(stored["status"]), skipped=True))
                            continue
                        attempt = self._attempt(job)
                        future = pool.submit(self.executor.run, job, attempt, stop=stop, on_event=self.on_event)
                        running[future] = (job, attempt)
                    done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
                    for future in done:
                        job, attempt = running.pop(future)
                        self._finish(self._result(future, job, attempt))
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop every running job, record it, stop
                stop.set()
                for future, (job, attempt) in running.items():
                    outcome = self._result(future, job, attempt)  # a full disk: the rerun runs it anyway
                    self.on_outcome(outcome)
                raise
        if self.disk_full:
            raise DiskFull(f"--store: the disk holding {self.store.root} is full; free some space and run the same "
                           "command again (it resumes where this run stopped)")


def _ignore(*_: Any) -> None:
    """No callback given."""


def run_jobs(jobs: list[Job], *, store: Store, executor: Executor, on_event: EventCallback | None = None,
             on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run each job not already finished (`executor.slots` at a time); outcomes in the order given."""
    driver = _Driver(store, executor, on_event or _ignore, on_outcome or _ignore, release=lambda job: ())
    driver.run(jobs)
    return [driver.outcomes[(job.stage, job.id)] for job in jobs if (job.stage, job.id) in driver.outcomes]


def run_plan(plan: Plan, *, store: Store, executor: Executor, on_event: EventCallback | None = None,
             on_outcome: Callable[[Outcome], None] | None = None, with_runs: bool = True) -> RunResult:
    """Stage 1, the search trials; stage 2, the seeded runs at each method's chosen setting, a
    method's as soon as its trials are done (`with_runs=False`: stage 1 alone, as
    benchmarks/search_halving.py measures it).

    Ctrl-C (KeyboardInterrupt) stops the run after recording the running jobs as interrupted.
    """
    shutil.rmtree(store.attempts_dir(plan.recipe.name), ignore_errors=True)  # left by a run that died
    waiting = {index: {job.id for _, job in points} for index, points in plan.trials.items()}
    depth = dict.fromkeys(plan.trials, 0)  # the rung each method's search is at
    chosen: dict[int, Choice] = {}
    held: dict[str, str] = {}

    def release(job: Job) -> list[Job]:
        """A halving search's next rung once its current one has ended; a method's seeded runs once
        the last of its trials has."""
        if job.stage is not Stage.TRIAL or job.method_index not in waiting:
            return []
        waiting[job.method_index].discard(job.id)
        if waiting[job.method_index]:
            return []
        ladder = ladder_for(plan, store, job.method_index)
        _drop_checkpoints(checkpoints_done_with(ladder))
        depth[job.method_index] += 1
        if depth[job.method_index] < len(ladder.rungs):  # a halving search's next rung (stored ones are skipped)
            following = [j for _, j, _ in ladder.rungs[depth[job.method_index]]]
            waiting[job.method_index] = {j.id for j in following}
            return following
        try:
            choice, added = beyond_grid(plan, store, job.method_index, lambda j: (Stage.TRIAL, j.id) in driver.outcomes)
        except NoChoice as reason:
            del waiting[job.method_index]
            held[plan.allocations[job.method_index].label] = str(reason)
            return []
        if added is not None:  # the best lies at an end of the grid: one more trial beyond it
            waiting[job.method_index] = {added.id}
            return [added]
        del waiting[job.method_index]
        chosen[job.method_index] = choice
        return plan.method_runs(job.method_index, chosen[job.method_index]) if with_runs else []

    driver = _Driver(store, executor, on_event or _ignore, on_outcome or _ignore, release=release)
    try:
        driver.run([*plan.trial_jobs, *(plan.run_jobs({}) if with_runs else [])])
    finally:
        with contextlib.suppress(OSError):  # empty once every attempt is committed
            store.attempts_dir(plan.recipe.name).rmdir()

    def ended(jobs: list[Job]) -> list[Outcome]:
        return [driver.outcomes[(job.stage, job.id)] for job in jobs if (job.stage, job.id) in driver.outcomes]

    trials = [o for (stage, _), o in driver.outcomes.items() if stage is Stage.TRIAL]  # every rung's, in order
    return RunResult(trials=trials, chosen=chosen, runs=ended(plan.run_jobs(chosen)) if with_runs else [], held=held)
