"""Stage 3 of a PoC: turn a classifier's errors into money and hours, per month.

The classifier flags items as the positive class (e.g. "defect"); flagged items still get
a person's look, the rest are handled automatically. So per month:
  missed     = positives x (1 - detection rate)          each costs `cost_missed`
  false alarms = negatives x false-alarm rate            each costs `cost_false_alarm`
  hours saved = (all items - flagged items) x minutes per item / 60
  value      = hours saved x hourly rate - cost of errors
  payback    = investment / value (months; none when the value is not positive), where the
               investment is the projected production training plus what the PoC itself cost
Rates are pooled over the seeds' test predictions; prevalence is the test split's. Each rate has
its Wilson interval over the test split's examples (the seeds see the same ones, so pooling them
adds no examples), and the monthly value and payback their range over those intervals (the
value is linear in both rates, so its extremes lie at the intervals' corners). Below
MIN_POSITIVES positive test examples the figures cannot be relied on, and the outcome says how
many a +-5-point detection interval needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from poc_cli.errors import PocError
from poc_cli.business_spec import BusinessSpec
from poc_cli.stats import trials_for_half_width, wilson

MIN_POSITIVES = 30  # fewer positive test examples leave the detection rate too uncertain to price
HALF_WIDTH = 0.05  # the detection interval a reliable figure needs: +-5 points


@dataclass(frozen=True)
class Monthly:
    """One month's figures at given detection and false-alarm rates: the value and its parts."""

    missed: float
    false_alarms: float
    hours_saved: float
    work_value: float  # the hours saved, at the hourly rate
    missed_cost: float
    alarm_cost: float

    @property
    def error_cost(self) -> float:
        return self.missed_cost + self.alarm_cost

    @property
    def value(self) -> float:
        return self.work_value - self.error_cost


@dataclass(frozen=True)
class BusinessOutcome:
    """Business figures for one method, with the ranges their uncertainty leaves."""

    true_positives: int
    false_negatives: int
    false_positives: int
    true_negatives: int
    detection_rate: float
    detection_interval: tuple[float, float]  # Wilson, 95%
    false_alarm_rate: float
    false_alarm_interval: tuple[float, float]
    precision: float | None
    prevalence: float
    month: Monthly  # at the measured rates
    value_range: tuple[float, float]  # over the rates' intervals
    payback_months: float | None  # None: the value is not positive
    payback_range: tuple[float | None, float | None]  # (shortest, longest); None: may never pay back
    positives: int  # positive examples in the test split
    positives_for_reliable: int | None  # positives a +-5-point detection interval needs (None: enough already)

    @property
    def monthly_value(self) -> float:
        return self.month.value

    @property
    def detects_nothing(self) -> bool:
        """Found none of the positives: any value comes from automated work alone."""
        return self.true_positives == 0

    @property
    def reliable(self) -> bool:
        return self.positives_for_reliable is None


def monthly(spec: BusinessSpec, *, prevalence: float, detection: float, false_alarm: float) -> Monthly:
    """The month's misses, false alarms, hours saved and their money at these rates."""
    positives = spec.monthly_items * prevalence
    negatives = spec.monthly_items - positives
    missed = positives * (1 - detection)
    alarms = negatives * false_alarm
    flagged = positives * detection + alarms
    hours = (spec.monthly_items - flagged) * spec.minutes_per_item / 60
    return Monthly(missed=missed, false_alarms=alarms, hours_saved=hours, work_value=hours * spec.hourly_rate,
                   missed_cost=missed * spec.cost_missed, alarm_cost=alarms * spec.cost_false_alarm)


def payback_months(investment: float, value: float) -> float | None:
    """Months until `value` a month repays `investment`; None when the value is not positive (it never does)."""
    return investment / value if value > 0 else None


def business_outcome(
    spec: BusinessSpec, *, y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str], investment: float,
    seeds: int = 1,
) -> BusinessOutcome:
    """Business figures from the test predictions of one method pooled over `seeds` seeds; `investment`
    is what must be spent before the value arrives (production training plus the PoC)."""
    if spec.positive_class not in labels:
        raise PocError(f"business.positive_class: {spec.positive_class!r} is not a label; labels: {', '.join(labels)}")
    positive = list(labels).index(spec.positive_class)
    tp = sum(1 for t, p in zip(y_true, y_pred) if t == positive and p == positive)
    fn = sum(1 for t, p in zip(y_true, y_pred) if t == positive and p != positive)
    fp = sum(1 for t, p in zip(y_true, y_pred) if t != positive and p == positive)
    tn = len(y_true) - tp - fn - fp
    if tp + fn == 0 or fp + tn == 0:
        raise PocError(f"business.positive_class: the test split needs both {spec.positive_class!r} and other items")
    prevalence = (tp + fn) / len(y_true)
    detection, false_alarm = tp / (tp + fn), fp / (fp + tn)
    positives, negatives = (tp + fn) / seeds, (fp + tn) / seeds  # examples of the test split
    detection_interval, false_alarm_interval = wilson(detection, positives), wilson(false_alarm, negatives)
    month = monthly(spec, prevalence=prevalence, detection=detection, false_alarm=false_alarm)
    corners = [monthly(spec, prevalence=prevalence, detection=d, false_alarm=f).value
               for d, f in product(detection_interval, false_alarm_interval)]
    low, high = min(corners), max(corners)
    reliable = positives >= MIN_POSITIVES
    return BusinessOutcome(
        true_positives=tp, false_negatives=fn, false_positives=fp, true_negatives=tn,
        detection_rate=detection, detection_interval=detection_interval,
        false_alarm_rate=false_alarm, false_alarm_interval=false_alarm_interval,
        precision=tp / (tp + fp) if tp + fp else None,
        prevalence=prevalence,
        month=month,
        value_range=(low, high),
        payback_months=payback_months(investment, month.value),
        payback_range=(payback_months(investment, high), payback_months(investment, low)),
        positives=round(positives),
        positives_for_reliable=None if reliable else trials_for_half_width(detection_interval, HALF_WIDTH),
    )
