"""A search never decides at its grid's edge: where the best learning rate is the smallest or the
largest tried (on the chosen alpha's line), one more full-length trial runs one step beyond it, on
the grid's own log spacing at that end, until the best lies inside or `search.edge_steps` trials
were added; the selection then says the limit was reached. A best rate tied with another on its
line is not at the edge: the best region reaches inside (the tie went to the smaller rate).

Like halving's rungs, the added trials are found from the store alone (`extend`): which trial comes
next depends only on the stored scores, so the same code decides in a first run and in a resumed one.
A halving search adds its trials after its last rung, and they are compared with its survivors'
full-length scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from poc_cli.search import Point


def beyond(tried: list[float], best: float) -> float | None:
    """The next learning rate past the end of `tried` where `best` lies, one step of the spacing of the two
    rates at that end (rounded to 3 significant digits); None where `best` lies inside, or one rate was tried."""
    rates = sorted(set(tried))
    if len(rates) < 2 or rates[0] < best < rates[-1]:
        return None
    step = rates[-1] / rates[-2] if best == rates[-1] else rates[0] / rates[1]
    return float(f"{best * step:.3g}")


def _tied(choice: Any) -> bool:
    """Whether another rate on the chosen alpha's line scored as well as the chosen one: the best region then
    reaches inside the grid (the tie went to the smaller rate), and nothing is added."""
    selection = choice.selection
    return any(row.lr != selection.chosen.lr and row.alpha_ratio == selection.chosen.alpha_ratio
               and row.score == selection.score for row in selection.trials)


@dataclass(frozen=True)
class Extension:
    """A method's trials beyond its grid: (point, job, stored record) of those that ended, and either the next
    one to run or, once none is, the method's choice with them."""

    added: list[tuple[Point, Any, dict[str, Any]]]
    pending: Any | None
    choice: Any | None = None  # set when nothing is pending
    reached: bool = False  # the limit was reached with the best still at an end


def extend(choose: Callable[[list[tuple[Point, Any, dict[str, Any]]]], Any], tried: list[Point], limit: int,
           job_at: Callable[[Point], Any], read: Callable[[Any], dict[str, Any] | None]) -> Extension:
    """Walk out from the grid: `choose(added)` is the method's choice with the added trials so far (it
    raises NoChoice where a trial failed or every one diverged), `tried` the grid's points, `job_at(point)`
    the trial job at a point and `read(job)` its record, None where it is still to run."""
    added: list[tuple[Point, Any, dict[str, Any]]] = []
    while True:
        choice = choose(added)
        chosen = choice.point
        line = [p.lr for p in [*tried, *(point for point, _, _ in added)] if p.alpha_ratio == chosen.alpha_ratio]
        lr = None if _tied(choice) else beyond(line, chosen.lr)
        if lr is None or len(added) >= limit:
            return Extension(added, None, choice, reached=lr is not None and limit > 0)
        point = Point(lr, chosen.alpha_ratio)
        job = job_at(point)
        record = read(job)
        if record is None:
            return Extension(added, job)
        added.append((point, job, record))
