"""One recipe's trained methods ranked by their mean score, and which of them lie on the Pareto
front of score against peak memory and against training time.

A method is on a front when no other method scores at least as well at no more cost, and better
in one of the two. Fronts are read from the means; whether two scores really differ is the
paired test's business (the Δ column), so a report shows the front as a map of the trade, never
as a ranking of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from poc_cli.methods import trains

if TYPE_CHECKING:  # compare builds the rows and ranks them here
    from poc_cli.compare import MethodRow

# What a front weighs the score against: the row's cost on that axis (lower is better).
# A time taken while other processes kept the machine busy (‡) is not a clean time: such a row is left off
# the time front, neither on it nor beaten by it. Times are the steady state (`MethodRow.compared_s`): a
# short job's one-off warm-up would pull every method's time towards the others'.
COSTS: dict[str, Callable[[MethodRow], float | None]] = {
    "memory": lambda row: row.peak_memory_mib,
    "time": lambda row: row.compared_s.mean if row.compared_s is not None and not row.loaded else None,
}


def _trained(row: MethodRow) -> bool:
    return row.score is not None and trains(row.method_kind)


def on_front(points: list[tuple[float, float]]) -> list[bool]:
    """For (score, cost) points, higher score and lower cost better: which no other point dominates."""
    return [not any(s2 >= s and c2 <= c and (s2 > s or c2 < c) for s2, c2 in points) for s, c in points]


def ranked(rows: list[MethodRow]) -> list[MethodRow]:
    """The rows with each trained method's rank (1: best mean score; equal means share a rank) and its
    Pareto marks; other rows unchanged, order kept."""
    trained = [row for row in rows if _trained(row)]
    if not trained:
        return rows
    sign = 1.0 if trained[0].higher_is_better else -1.0
    means = [sign * row.score.mean for row in trained]  # type: ignore[union-attr]
    ranks = {row.method: 1 + sum(other > mine for other in means) for row, mine in zip(trained, means)}
    marks: dict[str, list[str]] = {row.method: [] for row in trained}
    for axis, cost in COSTS.items():
        measured = [(row, sign * row.score.mean, cost(row)) for row in trained  # type: ignore[union-attr]
                    if cost(row) is not None]
        for (row, _, _), front in zip(measured, on_front([(s, c) for _, s, c in measured])):  # type: ignore[misc]
            if front and len(measured) > 1:
                marks[row.method].append(axis)
    return [replace(row, rank=ranks[row.method], pareto=tuple(marks[row.method])) if row.method in ranks else row
            for row in rows]
