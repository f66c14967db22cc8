"""Stage 3 of a PoC: turn a classifier's errors into money and hours, per month.

The classifier flags items as the positive class (e.g. "defect"); flagged items still get
a person's look, the rest are handled automatically. So per month:
  missed     = positives x (1 - detection rate)          each costs `cost_missed`
  false alarms = negatives x false-alarm rate            each costs `cost_false_alarm`
  hours saved = (all items - flagged items) x minutes per item / 60
  value      = hours saved x hourly rate - cost of errors
  payback    = investment / value (months; none when the value is not positive), where the
               investment is the projected production training plus what the PoC itself cost
Rates are pooled over the seeds' test predictions; prevalence is the test split's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from poc_cli.errors import PocError
from poc_cli.recipe import BusinessSpec


@dataclass(frozen=True)
class BusinessOutcome:
    """Business figures for one method."""

    true_positives: int
    false_negatives: int
    false_positives: int
    true_negatives: int
    detection_rate: float
    false_alarm_rate: float
    precision: float | None
    prevalence: float
    monthly_missed: float
    monthly_false_alarms: float
    monthly_error_cost: float
    monthly_hours_saved: float
    monthly_value: float
    payback_months: float | None


def business_outcome(
    spec: BusinessSpec, *, y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str], investment: float
) -> BusinessOutcome:
    """Business figures from pooled test predictions of one method; `investment` is what must be
    spent before the value arrives (production training plus the PoC)."""
    if spec.positive_class not in labels:
        raise PocError(f"business.positive_class: {spec.positive_class!r} is not a label; labels: {', '.join(labels)}")
    positive = list(labels).index(spec.positive_class)
    tp = sum(1 for t, p in zip(y_true, y_pred) if t == positive and p == positive)
    fn = sum(1 for t, p in zip(y_true, y_pred) if t == positive and p != positive)
    fp = sum(1 for t, p in zip(y_true, y_pred) if t != positive and p == positive)
    tn = len(y_true) - tp - fn - fp
    if tp + fn == 0 or fp + tn == 0:
        raise PocError(f"business.positive_class: the test split needs both {spec.positive_class!r} and other items")
    detection = tp / (tp + fn)
    false_alarm = fp / (fp + tn)
    prevalence = (tp + fn) / len(y_true)
    positives = spec.monthly_items * prevalence
    negatives = spec.monthly_items - positives
    missed = positives * (1 - detection)
    alarms = negatives * false_alarm
    error_cost = missed * spec.cost_missed + alarms * spec.cost_false_alarm
    flagged = positives * detection + alarms
    hours = (spec.monthly_items - flagged) * spec.minutes_per_item / 60
    value = hours * spec.hourly_rate - error_cost
    return BusinessOutcome(
        true_positives=tp, false_negatives=fn, false_positives=fp, true_negatives=tn,
        detection_rate=detection,
        false_alarm_rate=false_alarm,
        precision=tp / (tp + fp) if tp + fp else None,
        prevalence=prevalence,
        monthly_missed=missed,
        monthly_false_alarms=alarms,
        monthly_error_cost=error_cost,
        monthly_hours_saved=hours,
        monthly_value=value,
        payback_months=investment / value if value > 0 else None,
    )
