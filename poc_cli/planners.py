"""What planners have: the best classical forecast of a recipe, and each trained method against it.

"Did not learn" asks whether a method beats seasonal naive; a planning department asks whether it
beats the forecasts it already makes, and those come from exponential smoothing, ARIMA and Theta
(methods/classical.py). The best classical row (by mean score on the test series) is the bar: every
trained method is compared with it by the same paired procedure as with every other reference
(learning.paired_difference), and one that is not significantly better is "not better than what
planners have", named so in compare and the report and never recommended (report/conclusion.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from poc_cli.learning import Scored, paired_difference, scored
from poc_cli.methods import classical, trains
from poc_cli.stats import PairedDifference

if TYPE_CHECKING:
    from poc_cli.compare import MethodRow
    from poc_cli.records.record import StoredRecord


@dataclass(frozen=True)
class PlannersCheck:
    """A trained method against the best classical row: which that is, its score, the paired difference
    (the method minus it), and whether the method is significantly better."""

    best: str
    best_score: float
    difference: PairedDifference | None
    better: bool


def is_classical(kind: str) -> bool:
    return kind in classical.MODELS


def best_classical(rows: list[MethodRow]) -> MethodRow | None:
    """The classical row with the best mean score (None: the recipe fitted none)."""
    found = [row for row in rows if is_classical(row.method_kind) and row.score is not None]
    if not found:
        return None
    sign = 1.0 if found[0].higher_is_better else -1.0
    return max(found, key=lambda row: sign * row.score.mean)  # type: ignore[union-attr]


def against_planners(rows: list[MethodRow], ok_runs: dict[str, dict[int, StoredRecord]],
                     metric: str) -> list[MethodRow]:
    """The rows with each trained method's check against the best classical row (others unchanged). The
    classical forecast is deterministic: its one run stands for every seed of the method it is paired with."""
    best = best_classical(rows)
    if best is None:
        return rows
    reference = next(iter(scored(ok_runs[best.method], metric).values()), None)
    if reference is None:
        return rows
    sign = 1.0 if best.higher_is_better else -1.0
    out = []
    for row in rows:
        mine = scored(ok_runs.get(row.method, {}), metric)
        if not trains(row.method_kind) or not mine:
            out.append(row)
            continue
        versus = paired_difference(mine, {seed: Scored(reference.score, reference.per_example) for seed in mine})
        better = versus is not None and min(sign * versus.low, sign * versus.high) > 0
        out.append(replace(row, planners=PlannersCheck(best.method, reference.score, versus, better)))
    return out
