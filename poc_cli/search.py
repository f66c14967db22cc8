"""Stage 1 of `poc run`: choose each method's learning rate (and RandLoRA's alpha) on validation data.

At PoC sizes the learning rate decides the ranking: one shared or hand-picked rate can
make the better method look worse. So each method gets a grid of trials; each trial is a
stored job that trains on the train split and scores on the validation split only; the
best trial's setting is then used for the method's seeded runs on the test split.

Selection rules: the best validation score wins (highest, or lowest for a metric the task declares
lower-is-better); ties go to the smaller learning rate,
then the smaller alpha_ratio; a diverged trial has no score and never wins; while any
trial of a method is unfinished (failed, interrupted, ...) no setting is chosen for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from poc_cli.advice import advice
from poc_cli.recipe import DataSpec, MethodSpec, Recipe, TrainingSpec
from poc_cli.records.sections import FixedSelection, SearchSelection, Selection
from poc_cli.records.status import Status

TIE_BREAK = "smaller learning rate, then smaller alpha_ratio"
PRUNED = "pruned"  # a halving search's point that stopped at a rung (its row in a stored selection)
DEFAULT_VALIDATION_FRACTION = 0.1
# A learning-rate grid point counts as "good" when it scores within this much of the best
# (metric as a fraction: 0.03 = 3 points); a best point with no good neighbour is "narrow".
GOOD_WITHIN = 0.03
# The seeded runs score the validation split too; when their mean falls this far below the
# winning trial's score, the chosen setting did not hold up (typically: trials shorter than
# the runs favoured a learning rate that the longer schedule cannot take).
HOLD_DROP = 0.05


@dataclass(frozen=True)
class Point:
    """One setting of a method's grid."""

    lr: float
    alpha_ratio: float | None  # None: the method has no alpha dimension (LoRA keeps its own, full has none)

    def apply(self, spec: MethodSpec) -> MethodSpec:
        """The method's spec at this setting."""
        update: dict[str, Any] = {"lr": self.lr}
        if self.alpha_ratio is not None:
            update["alpha_ratio"] = self.alpha_ratio
        return spec.model_copy(update=update)


def grid(spec: MethodSpec) -> list[Point]:
    """The trials of one method: its grid, or the default grid for dimensions it leaves out."""
    custom = spec.search or None
    lrs = (custom.lr if custom and custom.lr else None) or list(spec.default_lrs)
    if "alpha_ratio" not in spec.GRID:  # the method does not search its alpha (LoRA keeps its own)
        return [Point(lr, None) for lr in sorted(lrs)]
    alphas = getattr(custom, "alpha_ratio", None)
    if alphas is None:
        fixed = "alpha_ratio" in spec.model_fields_set
        alphas = [spec.alpha_ratio] if fixed else list(spec.GRID["alpha_ratio"])
    return [Point(lr, alpha) for alpha in sorted(alphas) for lr in sorted(lrs)]


def trial_training(recipe: Recipe) -> TrainingSpec:
    """The training settings of a trial: the recipe's, shortened if `search` says so."""
    assert recipe.search is not None
    if recipe.search.epochs is not None:
        return recipe.training.model_copy(update={"epochs": recipe.search.epochs, "steps": None})
    if recipe.search.steps is not None:
        return recipe.training.model_copy(update={"epochs": None, "steps": recipe.search.steps})
    return recipe.training


def trial_data(recipe: Recipe) -> DataSpec:
    """The data of a trial: the recipe's, with a validation share of train held out if it has none."""
    assert recipe.search is not None
    data = recipe.data
    if data.validation is not None or data.validation_fraction is not None:
        return data
    fraction = recipe.search.validation_fraction or DEFAULT_VALIDATION_FRACTION
    return data.model_copy(update={"validation_fraction": fraction})


def trial_recipe(recipe: Recipe) -> Recipe:
    """The recipe as a trial job sees it (its identity hashes this)."""
    return recipe.model_copy(update={"training": trial_training(recipe), "data": trial_data(recipe)})


def trial_seed(recipe: Recipe) -> int:
    """Trials run at one seed: `search.seed`, else the recipe's first."""
    assert recipe.search is not None
    return recipe.search.seed if recipe.search.seed is not None else recipe.seeds[0]


@dataclass(frozen=True)
class Choice:
    """A method's setting for its seeded runs and how it was arrived at (stored in each record)."""

    point: Point
    selection: SearchSelection | FixedSelection


class NoChoice(Exception):
    """A searched method has no setting yet: a trial is unfinished, or every trial diverged."""


def _trial_row(record: dict[str, Any] | None, point: Point, job_id: str, metric: str) -> dict[str, Any]:
    status = record.get("status") if record else "missing"
    score = None
    if status == Status.OK.value:
        score = record["metrics"]["validation"][metric]  # type: ignore[index]
    return {"job_id": job_id, "lr": point.lr, "alpha_ratio": point.alpha_ratio, "status": status, "score": score,
            "error": record.get("error") if record else None}


def choose(recipe: Recipe, method_label: str, trials: list[tuple[Point, str, dict[str, Any] | None]],
           added: int = 0) -> Choice:
    """The best trial's setting; `trials` holds (point, job id, stored record or None) per grid point, the
    last `added` of them the trials added beyond the grid's ends (`edges.py`)."""
    assert recipe.search is not None
    from poc_cli.tasks import search_objective  # torch and transformers: not for `poc --help`

    objective = search_objective(recipe)
    metric = objective.name
    rows = [_trial_row(record, point, job_id, metric) for point, job_id, record in trials]
    for row in rows[len(rows) - added:]:
        row["added"] = True
    unfinished = [r for r in rows if r["status"] not in {Status.OK.value, Status.DIVERGED.value}]
    if unfinished:
        first = unfinished[0]
        ended = Status(first["status"]) if first["status"] in {s.value for s in Status} else Status.INTERRUPTED  # never ran
        what = advice(ended, first["error"])
        raise NoChoice(f"{method_label}: {len(unfinished)} of {len(rows)} search trials did not finish "
                       f"({', '.join(sorted({r['status'] for r in unfinished}))}); {what}")
    scored = [r for r in rows if r["score"] is not None]
    if not scored:
        raise NoChoice(f"{method_label}: every search trial diverged; give methods[].search.lr smaller values")
    sign = 1.0 if objective.higher_is_better else -1.0
    best = max(scored, key=lambda r: (sign * r["score"], -r["lr"], -(r["alpha_ratio"] or 0.0)))
    sizes = next(record["data"]["sizes"] for _, _, record in trials if record and record.get("data"))
    training = trial_training(recipe)
    selection = SearchSelection.model_validate({
        "how": "search",
        "metric": metric,
        "higher_is_better": objective.higher_is_better,
        "split": "validation",
        "examples": {"train": sizes["train"], "validation": sizes["validation"]},
        "seed": trial_seed(recipe),
        "trial_length": {"epochs": training.epochs, "steps": training.steps},
        "tie_break": TIE_BREAK,
        "chosen": {"lr": best["lr"], "alpha_ratio": best["alpha_ratio"]},
        "score": best["score"],
        "trials": rows,
    })
    return Choice(Point(best["lr"], best["alpha_ratio"]), selection)


def fixed_choice(spec: MethodSpec) -> Choice:
    """The setting of a method that is not searched: the recipe's lr, else the default."""
    how = "recipe" if spec.lr is not None else "default"
    return Choice(Point(spec.learning_rate, None), FixedSelection.model_validate({"how": how, "chosen": {"lr": spec.learning_rate}}))


@dataclass(frozen=True)
class Sensitivity:
    """How a method's validation score depends on its learning rate, at its chosen alpha."""

    curves: dict[float | None, list[tuple[float, float | None]]]  # alpha -> [(lr, score or None if diverged)]
    # of full-length trials only: a halving search's pruned points have no full-length score
    narrow: bool | None  # None: one learning rate only, nothing to judge
    at_edge: bool
    diverged: int


def sensitivity(selection: Selection | None) -> Sensitivity | None:
    """Read a stored selection: the curves to draw and whether the good region is narrow."""
    if not isinstance(selection, SearchSelection):
        return None
    curves: dict[float | None, list[tuple[float, float | None]]] = {}
    for row in selection.trials:
        if row.status == PRUNED:  # no full-length score: left out, not drawn as diverged
            continue
        curves.setdefault(row.alpha_ratio, []).append((row.lr, row.score))
    for points in curves.values():
        points.sort()
    chosen = selection.chosen
    # The chosen point's neighbours on the grid (a halving search's pruned ones included, unscored).
    line = sorted((row for row in selection.trials if row.alpha_ratio == chosen.alpha_ratio), key=lambda row: row.lr)
    k = [row.lr for row in line].index(chosen.lr)
    neighbours = [line[j] for j in (k - 1, k + 1) if 0 <= j < len(line)]
    sign = 1.0 if selection.higher_is_better else -1.0
    good = any(row.score is not None and sign * (selection.score - row.score) <= GOOD_WITHIN for row in neighbours)
    unknown = any(row.status == PRUNED for row in neighbours)
    narrow = None if not neighbours or (unknown and not good) else not good
    return Sensitivity(curves=curves, narrow=narrow, at_edge=len(line) > 1 and k in (0, len(line) - 1),
                       diverged=sum(1 for row in selection.trials if row.status == Status.DIVERGED.value))


def did_not_hold(selection: Selection | None, run_scores: list[float]) -> float | None:
    """How far the seeded runs' mean validation score fell below the winning trial's, when that is
    more than HOLD_DROP; None when it held (or there is nothing to compare)."""
    if not isinstance(selection, SearchSelection) or not run_scores:
        return None
    sign = 1.0 if selection.higher_is_better else -1.0
    drop = sign * (selection.score - sum(run_scores) / len(run_scores))
    return drop if drop > HOLD_DROP else None
