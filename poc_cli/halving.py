"""Successive halving for the learning-rate search (`search.strategy: halving`): about half the
grid's steps, at the risk of another choice (measured on Banking77: docs/benchmarks.md).

Every grid point starts with the full-length schedule (the learning rate decays over the
whole trial, as in a grid trial); at a third and at two thirds of its steps it stops, scores
on validation and leaves a checkpoint. Only the best third (at least one) of the points at a
rung go on, each resuming from its own checkpoint, so a survivor's full-length trial is the
same training as a grid trial's. The choice is made on full-length scores only.

Each rung of each point is a stored job of its own (the rung is part of its identity), so a
run stopped between rungs resumes where it was, and the driver knows what comes next only
from the store (`climb`): the same code decides in a first run and in a resumed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from poc_cli.records.sections import TrialRow
from poc_cli.records.status import FINISHED, Status
from poc_cli.search import PRUNED, Choice, choose

FRACTIONS = (1 / 3, 2 / 3)  # of the trial's optimizer steps, where the points are compared
KEEP = 3  # the best 1/KEEP of a rung goes on (at least one)


@dataclass(frozen=True)
class Rung:
    """Where a trial job stops: after `stop_at` of the schedule's `total` optimizer steps."""

    stop_at: int
    total: int

    @property
    def final(self) -> bool:
        return self.stop_at >= self.total

    def to_dict(self) -> dict[str, int]:
        return {"stop_at": self.stop_at, "of": self.total}


def stops(total: int) -> tuple[int, ...]:
    """The rungs' step counts for a trial of `total` steps, the last being `total`."""
    early = {round(total * f) for f in FRACTIONS}
    return (*sorted(s for s in early if 1 <= s < total), total)


def survivors(points: int) -> int:
    """How many of `points` compared at a rung go on."""
    return max(1, points // KEEP)


def first_rung(total: int) -> Rung | None:
    """The first rung of a halving search, or None where there is nothing to halve (one stop)."""
    found = stops(total)
    return Rung(found[0], total) if len(found) > 1 else None


def _finished(record: dict[str, Any] | None) -> bool:
    return record is not None and record.get("status") in {s.value for s in FINISHED}


def _score(record: dict[str, Any], metric: str) -> float | None:
    if record.get("status") != Status.OK.value:
        return None
    return record["metrics"]["validation"][metric]


@dataclass(frozen=True)
class Ladder:
    """A method's search so far: per rung, each point's (point, job, stored record or None)."""

    rungs: list[list[tuple[Any, Any, dict[str, Any] | None]]]  # up to the first with an unfinished job
    done: bool  # the last rung's points all have a finished record, and no point goes on from it


def climb(first: list[tuple[Any, Any]], read: Any, metric: str, higher_is_better: bool) -> Ladder:
    """Follow a method's rungs through the store: `first` holds (point, first-rung job) per grid
    point and `read(job)` a job's stored record. Survivors are ranked by validation score (a
    diverged point has none and never goes on); ties go to the smaller learning rate, then the
    smaller alpha_ratio, as the choice itself."""
    sign = 1.0 if higher_is_better else -1.0
    current = list(first)
    rungs: list[list[tuple[Any, Any, dict[str, Any] | None]]] = []
    while True:
        level = [(point, job, read(job)) for point, job in current]
        rungs.append(level)
        if not all(_finished(record) for _, _, record in level):
            return Ladder(rungs, done=False)
        rung = level[0][1].rung
        if rung is None or rung.final:
            return Ladder(rungs, done=True)
        scored = [(point, job, record) for point, job, record in level if _score(record, metric) is not None]
        scored.sort(key=lambda item: (-sign * _score(item[2], metric), item[0].lr, item[0].alpha_ratio or 0.0))
        kept = scored[:survivors(len(level))]
        if not kept:
            return Ladder(rungs, done=True)
        later = [s for s in stops(rung.total) if s > rung.stop_at]
        current = [(point, next_rung(job, Rung(later[0], rung.total), record)) for point, job, record in kept]


def next_rung(job: Any, rung: Rung, record: dict[str, Any]) -> Any:
    """The same trial, resumed from `record`'s checkpoint and run on to `rung`."""
    return replace(job, rung=rung, resume=(record.get("adapter") or {}).get("path"))


def rows(ladder: Ladder, metric: str) -> list[dict[str, Any]]:
    """One row per grid point for the stored selection: the full-length score where the point got
    there, else status "pruned" and the rung where it stopped; every rung's score beside it."""
    out = []
    for point, job, record in ladder.rungs[0]:
        history = [(j, r) for level in ladder.rungs for p, j, r in level if p == point]
        last_job, last = history[-1]
        reached_end = last_job.rung is None or last_job.rung.final
        status = (last or {}).get("status", "missing")
        pruned = status == Status.OK.value and not reached_end
        out.append({
            "job_id": last_job.id, "lr": point.lr, "alpha_ratio": point.alpha_ratio,
            "status": PRUNED if pruned else status,
            "score": _score(last, metric) if last and reached_end else None,
            "error": (last or {}).get("error"),
            "steps": last_job.rung.stop_at if last_job.rung else None,
            "rungs": [{"steps": j.rung.stop_at if j.rung else None, "job_id": j.id,
                       "score": _score(r, metric) if r else None} for j, r in history],
        })
    return out


def checkpoints_done_with(ladder: Ladder) -> list[str]:
    """Checkpoint folders no later rung needs: a pruned point's, and a survivor's once the rung
    after it has a finished record. The final rung saves none."""
    out = []
    for depth, level in enumerate(ladder.rungs):
        following = ladder.rungs[depth + 1] if depth + 1 < len(ladder.rungs) else []
        later = {p for p, _, _ in following}
        finished_later = {p for p, _, r in following if _finished(r)}
        for point, _, record in level:
            path = ((record or {}).get("adapter") or {}).get("path")
            if not path:
                continue
            decided = bool(following) or ladder.done
            if (decided and point not in later) or point in finished_later:
                out.append(path)
    return out


def cost(points: int, total: int) -> tuple[int, int]:
    """(jobs, optimizer steps) of a halving search over `points` grid points of `total` steps each,
    as `climb` runs it when nothing diverges."""
    jobs = steps = done = 0
    alive = points
    for stop in stops(total):
        jobs += alive
        steps += alive * (stop - done)
        done = stop
        alive = survivors(alive)
    return jobs, steps


def decide(recipe: Any, label: str, ladder: Ladder, added: Sequence[tuple[Any, Any, dict[str, Any]]] = ()) -> Any:
    """The method's setting from its last rung and the full-length trials `added` beyond the grid's ends
    (NoChoice while one is unfinished), with every rung in the stored selection."""
    last = [*ladder.rungs[-1], *added]
    choice = choose(recipe, label, [(point, job.id, record) for point, job, record in last], added=len(added))
    if ladder.rungs[0][0][1].rung is None:  # a grid search, or too few steps to halve
        return choice
    total = ladder.rungs[0][0][1].rung.total
    beyond = [row for row in choice.selection.trials if row.added]
    selection = choice.selection.model_copy(update={
        "strategy": "halving", "rungs": list(stops(total)), "keep": f"1/{KEEP}",
        "trials": [TrialRow.model_validate(row) for row in rows(ladder, choice.selection.metric)] + beyond})
    return Choice(choice.point, selection)
