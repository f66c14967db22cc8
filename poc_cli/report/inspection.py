"""The inspection line's view in the report: how well each method ranks the positive class (defects)
above the rest (AUROC), where the line would be set (the threshold chosen on validation), and the
curve of detection against false alarms with that point marked.

For a binary task with a business block. AUROC per method: DeLong's interval with one seed, a
t-interval over the seeds' AUROCs with more. Against the baseline, one procedure per verdict as
elsewhere: DeLong's paired test on the same test images with one seed, the paired t-test over the
seeds' AUROCs with more; Holm's step-down adjusts the p-values over the comparisons.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from markupsafe import Markup
from sklearn.metrics import roc_curve

from poc_cli.business_spec import BusinessSpec
from poc_cli.numbers import NBSP, percent
from poc_cli.operating_point import (
    Rates,
    SeedPoint,
    auroc,
    delong_paired,
    scored,
    seed_point,
)
from poc_cli.records.record import StoredRecord
from poc_cli.report import charts
from poc_cli.report.common import Inputs
from poc_cli.report.i18n import text
from poc_cli.stats import holm, mean_interval, paired_t


def _span(value: float, low: float, high: float, digits: int = 3) -> str:
    return f"{value:.{digits}f} [{low:.{digits}f},{NBSP}{high:.{digits}f}]"


def _against(runs: list[StoredRecord], base: list[StoredRecord], positive: int) -> tuple[float, float, float, float]:
    """(difference, low, high, p) of AUROC against the baseline's, by DeLong (one seed) or over seeds."""
    by_seed = {run.seed: run for run in base}
    pairs = [(run, by_seed[run.seed]) for run in runs if run.seed in by_seed]
    if len(pairs) == 1:
        (run, other), = pairs
        scores, truth = scored(run.test_predictions, positive)
        result = delong_paired(scores, scored(other.test_predictions, positive)[0], truth)
        return result.difference, result.low, result.high, result.p_value
    differences = [auroc(*scored(a.test_predictions, positive)).value - auroc(*scored(b.test_predictions,
                                                                                        positive)).value
                   for a, b in pairs]
    result = paired_t(differences)
    return result.mean, result.low, result.high, result.p_value


def _auroc_text(runs: list[StoredRecord], positive: int) -> str:
    values = [auroc(*scored(run.test_predictions, positive)) for run in runs]
    if len(values) == 1:
        return _span(values[0].value, values[0].low, values[0].high)
    low, high = mean_interval([v.value for v in values])
    return _span(float(np.mean([v.value for v in values])), low, high)


def _rate(rates: Rates) -> str:
    """Detection and false-alarm rates with their Wilson intervals."""
    (d_low, d_high), (f_low, f_high) = rates.intervals()
    return (f"{percent(rates.detection)} [{percent(d_low)},{NBSP}{percent(d_high)}] / "
            f"{percent(rates.false_alarm)} [{percent(f_low)},{NBSP}{percent(f_high)}]")


def _point_text(points: list[SeedPoint]) -> tuple[str, str, str]:
    """(each seed's threshold, each seed's validation rates, the test rates pooled over the seeds)."""
    thresholds = ", ".join(f"{p.validation.threshold:.3g}" for p in points)
    validation = ", ".join(f"{percent(p.validation.detection)} / {percent(p.validation.false_alarm)}" for p in points)
    counts = [sum(getattr(p.test, k) for p in points)
              for k in ("true_positives", "false_negatives", "false_positives", "true_negatives")]
    return thresholds, validation, _rate(Rates(points[0].test.threshold, *counts))


def inspection(i: Inputs, spec: BusinessSpec, *, curve: bool = True) -> dict[str, Any] | None:
    """The AUROC and operating-point table, its notes and (with `curve`) the chart; None where the
    task is not binary."""
    labels = list(i.any_run.data.labels)
    if len(labels) != 2 or spec.positive_class not in labels:
        return None
    lang, positive = i.lang, labels.index(spec.positive_class)
    runs = {r.method: [run for _, run in sorted(i.ok_runs[r.method].items()) if run.test_predictions]
            for r in i.trained}
    if not all(_scored_whole(run) for rows in runs.values() for run in rows) or not all(runs.values()):
        return None  # records without each answer's probability cannot be ranked (none poc writes today)
    base = runs.get(i.baseline) or []
    compared = [r for r in i.trained if r.method != i.baseline and base]
    against = {r.method: _against(runs[r.method], base, positive) for r in compared}
    adjusted = dict(zip(against, holm([p for *_, p in against.values()])))
    rows, curves, marks = [], [], []
    for r in i.trained:
        row = [i.name_of(r), _auroc_text(runs[r.method], positive)]
        if r.method in adjusted:
            difference, low, high, _ = against[r.method]
            row += [_span(difference, low, high), f"{adjusted[r.method][0]:.3g}"]
        else:
            row += [text(lang, "op_reference"), "-"]
        scores, truth = scored(runs[r.method][0].test_predictions, positive)
        if curve:
            false_alarm, detection, _ = roc_curve(truth, scores)
            curves.append((i.name_of(r), r.method_kind, false_alarm.tolist(), detection.tolist()))
        if spec.operating_point:
            points = [seed_point(spec, run) for run in runs[r.method]]
            row += list(_point_text(points))
            marks.append((r.method_kind, points[0].test.false_alarm, points[0].test.detection))
        rows.append(row)
    headers = ["c_method", "c_auroc", "c_auroc_vs", "c_auroc_p"] + (
        ["c_threshold", "c_validation_rates", "c_test_rates"] if spec.operating_point else [])
    seed = runs[i.trained[0].method][0].seed
    return {
        "table": {"headers": [text(lang, k, baseline=i.name_of(i.baseline)) for k in headers], "rows": rows,
                  "numeric_from": 1},
        "notes": [text(lang, "op_auroc_note", positive=spec.positive_class), _target_note(spec, lang)],
        "curve": Markup(charts.roc(curves, marks, title=text(lang, "op_curve", seed=seed),
                                   x_label=text(lang, "op_axis_false_alarm"),
                                   y_label=text(lang, "op_axis_detection"))) if curve else None,
    }


def _scored_whole(run: StoredRecord) -> bool:
    """Whether the run's test predictions carry a probability for every answer."""
    test = run.test_predictions
    return len(test.value("confidence") or []) == len(test.truth()) > 0


def _target_note(spec: BusinessSpec, lang: str) -> str:
    """How the threshold was chosen, or that the rates below are at the argmax."""
    if not spec.operating_point:
        return text(lang, "op_argmax")
    parts = []
    if spec.required_detection_rate is not None:
        parts.append(text(lang, "op_detection_target", rate=percent(spec.required_detection_rate)))
    if spec.max_false_alarm_rate is not None:
        parts.append(text(lang, "op_false_alarm_target", rate=percent(spec.max_false_alarm_rate)))
    return text(lang, "op_chosen", targets=text(lang, "op_and").join(parts))
