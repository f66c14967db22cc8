"""The operating point of an inspection line: AUROC, and the threshold a line is set to.

A line does not run a classifier at its argmax. It sets a threshold on the score of the positive
class (defect) so as to catch a required share of defects (`business.required_detection_rate`)
or to stay under a ceiling of false alarms (`business.max_false_alarm_rate`), and lives with what
follows. So for a binary task with a positive class:

- AUROC, the chance a random defect scores above a random good part, with DeLong's variance
  (DeLong, DeLong and Clarke-Pearson 1988, through midranks as Sun and Xu 2014 compute it), and
  DeLong's paired test between two methods scored on the same test images;
- the threshold, chosen on the validation split only (never on test): the highest one that
  reaches the required detection rate, or the lowest that keeps the false-alarm rate at or
  below its ceiling; where both are given, the highest threshold meeting both, and where none
  does, an error naming the closest;
- on test, the detection and false-alarm rates at that threshold, with Wilson intervals.

A part is flagged when its score is at or above the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from poc_cli.business_spec import BusinessSpec
from poc_cli.errors import PocError, RecipeError
from poc_cli.records.record import StoredRecord
from poc_cli.records.sections import Predictions
from poc_cli.stats import CONFIDENCE, wilson


@dataclass(frozen=True)
class Auroc:
    """An AUROC with DeLong's variance and its normal interval (clipped to [0, 1])."""

    value: float
    variance: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedAuroc:
    """DeLong's test of two AUROCs on the same examples: the difference (first minus second), its
    interval and two-sided p."""

    difference: float
    low: float
    high: float
    p_value: float


@dataclass(frozen=True)
class Rates:
    """Detection and false-alarm rates at a threshold, with the counts behind them."""

    threshold: float
    true_positives: int
    false_negatives: int
    false_positives: int
    true_negatives: int

    @property
    def detection(self) -> float:
        positives = self.true_positives + self.false_negatives
        return self.true_positives / positives if positives else 0.0

    @property
    def false_alarm(self) -> float:
        negatives = self.false_positives + self.true_negatives
        return self.false_positives / negatives if negatives else 0.0

    def intervals(self, confidence: float = CONFIDENCE) -> tuple[tuple[float, float], tuple[float, float]]:
        """Wilson intervals of the detection and false-alarm rates."""
        return (wilson(self.detection, self.true_positives + self.false_negatives, confidence),
                wilson(self.false_alarm, self.false_positives + self.true_negatives, confidence))


def positive_scores(y_pred: list[int], confidence: list[float], positive: int) -> np.ndarray:
    """The positive class's probability of each example of a binary task, from the stored predicted
    class and its probability (the two classes' probabilities sum to one)."""
    pred, top = np.asarray(y_pred), np.asarray(confidence, dtype=float)
    return np.where(pred == positive, top, 1.0 - top)


def _components(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components through midranks: for each positive, the share of negatives
    it outscores (ties count half); for each negative, the share of positives that outscore it."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        raise PocError("AUROC needs at least one positive and one negative example")
    every = sps.rankdata(scores)
    v10 = (every[positive] - sps.rankdata(pos)) / len(neg)
    v01 = 1.0 - (every[~positive] - sps.rankdata(neg)) / len(pos)
    return v10, v01


def auroc(scores: np.ndarray, positive: np.ndarray, confidence: float = CONFIDENCE) -> Auroc:
    """AUROC of `scores` for the examples marked `positive`, with DeLong's variance and interval."""
    positive = np.asarray(positive, dtype=bool)
    v10, v01 = _components(np.asarray(scores, dtype=float), positive)
    value = float(v10.mean())
    variance = float(np.var(v10, ddof=1) / len(v10) if len(v10) > 1 else 0.0) + float(
        np.var(v01, ddof=1) / len(v01) if len(v01) > 1 else 0.0)
    half = float(sps.norm.ppf(1 - (1 - confidence) / 2)) * math.sqrt(variance)
    return Auroc(value, variance, max(0.0, value - half), min(1.0, value + half))


def delong_paired(first: np.ndarray, second: np.ndarray, positive: np.ndarray,
                  confidence: float = CONFIDENCE) -> PairedAuroc:
    """DeLong's test of AUROC(first) - AUROC(second), both scored on the same examples."""
    positive = np.asarray(positive, dtype=bool)
    a10, a01 = _components(np.asarray(first, dtype=float), positive)
    b10, b01 = _components(np.asarray(second, dtype=float), positive)
    s10, s01 = np.cov(np.vstack([a10, b10])), np.cov(np.vstack([a01, b01]))
    variance = float((s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / len(a10)
                     + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / len(a01))
    difference = float(a10.mean() - b10.mean())
    if variance <= 0:  # identical rankings: no difference, and no spread to test it against
        return PairedAuroc(difference, difference, difference, 1.0 if difference == 0 else 0.0)
    z = difference / math.sqrt(variance)
    half = float(sps.norm.ppf(1 - (1 - confidence) / 2)) * math.sqrt(variance)
    return PairedAuroc(difference, difference - half, difference + half, float(2 * sps.norm.sf(abs(z))))


def rates_at(scores: np.ndarray, positive: np.ndarray, threshold: float) -> Rates:
    """The confusion counts when every example scoring at or above `threshold` is flagged."""
    flagged, positive = np.asarray(scores) >= threshold, np.asarray(positive, dtype=bool)
    return Rates(threshold, int((flagged & positive).sum()), int((~flagged & positive).sum()),
                 int((flagged & ~positive).sum()), int((~flagged & ~positive).sum()))


def choose_threshold(scores: np.ndarray, positive: np.ndarray, *, detection: float | None = None,
                     false_alarm: float | None = None) -> Rates:
    """The validation threshold for a required detection rate and/or a false-alarm ceiling (see the
    module's docstring), with the validation rates it gives; a PocError names the closest where no
    threshold meets both."""
    scores, positive = np.asarray(scores, dtype=float), np.asarray(positive, dtype=bool)
    if not positive.any() or positive.all():
        raise PocError("the validation split needs both classes to choose a threshold; it has "
                       f"{int(positive.sum())} positive and {int((~positive).sum())} negative examples")
    candidates = [rates_at(scores, positive, t) for t in (*np.unique(scores), np.nextafter(scores.max(), np.inf))]
    meets = [r for r in candidates if (detection is None or r.detection >= detection)
             and (false_alarm is None or r.false_alarm <= false_alarm)]
    if meets:
        if detection is not None:  # the highest threshold that catches enough
            return max(meets, key=lambda r: r.threshold)
        return min(meets, key=lambda r: r.threshold)  # the lowest that stays under the ceiling
    enough = [r for r in candidates if r.detection >= (detection or 0.0)]
    closest = min(enough, key=lambda r: r.false_alarm)
    raise PocError(f"no threshold on the validation split reaches a detection rate of at least {detection:.1%} "
                   f"with false alarms at most {false_alarm:.1%}; the closest: detection {closest.detection:.1%} "
                   f"with false alarms {closest.false_alarm:.1%} (threshold {closest.threshold:.3g})")


@dataclass(frozen=True)
class SeedPoint:
    """One seeded run at its operating point: the threshold chosen on its validation predictions,
    the rates it gave there, and the rates on test at that threshold."""

    seed: int
    validation: Rates
    test: Rates


def scored(predictions: Predictions, positive: int) -> tuple[np.ndarray, np.ndarray]:
    """(positive-class scores, is-positive) of a split's stored predictions."""
    scores = positive_scores(list(predictions.value("y_pred") or []), list(predictions.value("confidence") or []),
                             positive)
    return scores, np.asarray(predictions.truth()) == positive


def seed_point(spec: BusinessSpec, run: StoredRecord) -> SeedPoint:
    """The run's threshold for the recipe's target, chosen on its validation predictions alone, and
    what it gives on test; a run stored without validation predictions is a PocError naming it."""
    positive = list(run.data.labels).index(spec.positive_class)
    validation, test = run.predictions.get("validation"), run.test_predictions
    if validation is None or test is None:
        raise PocError(f"job {run.job_id}: no validation predictions to choose a threshold on (run the recipe "
                       "again with a validation split)")
    try:
        chosen = choose_threshold(*scored(validation, positive), detection=spec.required_detection_rate,
                                  false_alarm=spec.max_false_alarm_rate)
    except PocError as error:  # the recipe's targets, not the records, are what to change
        raise RecipeError(f"business: {run.method} seed {run.seed}: {error}") from None
    scores, truth = scored(test, positive)
    return SeedPoint(run.seed, chosen, rates_at(scores, truth, chosen.threshold))


def flagged_answers(point: SeedPoint, run: StoredRecord, positive: int) -> list[int]:
    """The run's test answers at its threshold: the positive class where flagged, else the other one."""
    scores, _ = scored(run.test_predictions, positive)
    return [positive if score >= point.validation.threshold else 1 - positive for score in scores]
