"""The search never decides at its grid's edge: the walk beyond it, by hand, on synthetic score curves."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from poc_cli.edges import beyond, extend
from poc_cli.recipe import Recipe
from poc_cli.search import NoChoice, Point, choose

GRID = [1e-3, 2e-3, 5e-3, 1e-2]
RECIPE = Recipe.model_validate({"name": "e", "model": "m", "data": {"train": "t", "test": "t"},
                                "methods": [{"method": "lora"}], "search": True})


def _record(score: float | None) -> dict[str, Any]:
    if score is None:
        return {"status": "diverged", "error": "the loss exploded"}
    return {"status": "ok", "metrics": {"validation": {"accuracy": score}},
            "data": {"sizes": {"train": 90, "validation": 10}}}


def _walk(curve: Callable[[float], float | None], limit: int, grid: list[float] = GRID,
          alpha: float | None = None) -> tuple[list[float], bool]:
    """Run `extend` as the driver does, every added trial scored by `curve` at once: the rates it added
    (in order) and whether it says the limit was reached."""
    base = [(Point(lr, alpha), f"g{lr}", _record(curve(lr))) for lr in grid]
    stored: dict[str, dict[str, Any]] = {}

    def choose_with(added: list[tuple[Point, Any, dict[str, Any]]]) -> Any:
        return choose(RECIPE, "m", base + [(p, job, record) for p, job, record in added], added=len(added))

    while True:
        found = extend(choose_with, [p for p, _, _ in base], limit, job_at=lambda point: f"a{point.lr}",
                       read=lambda job: stored.get(job))
        if found.pending is None:
            return [p.lr for p, _, _ in found.added], found.reached
        stored[found.pending] = _record(curve(float(found.pending[1:])))  # "runs" the trial


def _peak(at: float) -> Callable[[float], float]:
    return lambda lr: 1.0 - 0.1 * (math.log10(lr) - math.log10(at)) ** 2


def test_the_next_rate_follows_the_grids_own_spacing_at_that_end() -> None:
    assert beyond(GRID, 1e-2) == 2e-2 and beyond(GRID, 1e-3) == 5e-4
    assert beyond([1e-4, 3e-4, 1e-3], 1e-3) == pytest.approx(3.33e-3)
    assert beyond(GRID, 5e-3) is None and beyond([1e-3], 1e-3) is None


def test_the_walk_reaches_an_optimum_beyond_the_grid() -> None:
    """The best lies at 0.3: above the grid's 1e-2, at the top's spacing (x2) the walk reaches 0.32 and one past it,
    then stops, the best inside."""
    added, reached = _walk(_peak(0.3), limit=10)
    assert added == [0.02, 0.04, 0.08, 0.16, 0.32, 0.64] and reached is False


def test_the_walk_stops_at_the_limit_and_says_so() -> None:
    added, reached = _walk(_peak(0.3), limit=3)
    assert added == [0.02, 0.04, 0.08] and reached is True
    assert _walk(_peak(0.3), limit=0) == ([], False)  # edge_steps: 0 turns the walk off (the report says "at the edge")


def test_downwards_and_into_divergence() -> None:
    """Below the grid at its bottom spacing (x1/2); upwards, a rate that diverges bounds the best."""
    added, reached = _walk(_peak(3e-4), limit=3)
    assert added == [5e-4, 2.5e-4, 1.25e-4] and reached is False
    added, reached = _walk(lambda lr: None if lr > 1.5e-2 else _peak(1.0)(lr), limit=3)
    assert added == [0.02] and reached is False


def test_an_interior_best_or_a_tie_adds_nothing() -> None:
    assert _walk(_peak(3e-3), limit=3) == ([], False)
    flat = _walk(lambda lr: 0.9, limit=3)  # every rate ties: the tie goes to the smallest, yet the best reaches in
    assert flat == ([], False)


def test_the_chosen_alphas_line_is_walked() -> None:
    added, _ = _walk(_peak(0.3), limit=2, alpha=20.0)
    assert added == [0.02, 0.04]


def test_a_failed_added_trial_holds_the_method_back() -> None:
    with pytest.raises(NoChoice, match="did not finish"):
        choose(RECIPE, "m", [(Point(lr, None), f"g{lr}", _record(_peak(0.3)(lr))) for lr in GRID]
               + [(Point(0.02, None), "a", {"status": "failed", "error": "boom"})], added=1)
