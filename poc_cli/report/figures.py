"""Which charts a section draws, from its rows: scores with their intervals, score against
parameters and cost, against GPU memory only where a GPU ran (host memory does not size a
GPU), the training losses, and the search's sensitivity to the learning rate."""

from __future__ import annotations

from dataclasses import replace

from markupsafe import Markup

from poc_cli.compare import MethodRow
from poc_cli.numbers import currency_name, score_text
from poc_cli.ranking import COSTS
from poc_cli.report import charts
from poc_cli.report.common import Inputs, metric_name, title_metric
from poc_cli.report.i18n import text
from poc_cli.search import sensitivity


def _estimate(i: Inputs, row: MethodRow, x: float | None = None) -> charts.Estimate:
    scale = 100.0 if i.percent else 1.0
    interval = row.interval
    failed = row.learning is not None and row.learning.learned is False
    note = None
    if failed:
        note = text(i.lang, "chart_dnl")
    elif row.difference is not None and not row.difference.significant:
        note = text(i.lang, "chart_ns", baseline=i.name_of(i.baseline))
    # A method's colour follows its kind, unless several rows share one (two peft tuners): then its name.
    kind = row.method if sum(r.method_kind == row.method_kind for r in i.rows) > 1 else row.method_kind
    return charts.Estimate(i.name_of(row), kind, scale * row.score.mean,
                           scale * interval[0] if interval else None, scale * interval[1] if interval else None,
                           x=x, note=note, failed=failed)


def _reference(i: Inputs) -> charts.Reference | None:
    row = i.trivial
    if row is None or row.score is None:
        return None
    return charts.Reference(text(i.lang, "chart_ref", name=i.name_of(row), value=score_text(row.score.mean, i.percent)),
                            (100.0 if i.percent else 1.0) * row.score.mean)


def _y_label(i: Inputs) -> str:
    name = metric_name(i.lang, i.metric)
    unit = i.first.units.get(i.metric, "")
    if not i.percent and not unit:  # a ratio such as MASE: its name alone
        return name
    return text(i.lang, "ax_metric", metric=name) if i.percent else text(i.lang, "ax_metric_unit", metric=name,
                                                                          unit=unit)


def _sensitivity(i: Inputs) -> tuple[str, str] | None:
    series, metric = [], i.metric
    for r in i.measured:
        selection = i.searched.get(r.method)
        found = sensitivity(selection)
        if selection is None or found is None:
            continue
        metric = selection.metric
        for alpha, points in found.curves.items():
            label = i.name_of(r) if alpha is None or len(found.curves) == 1 else f"{i.name_of(r)} alpha_ratio={alpha:g}"
            chosen = selection.chosen.lr if alpha == selection.chosen.alpha_ratio else None
            series.append(charts.Curve(label, r.method_kind, [(lr, None if s is None else 100 * s) for lr, s in points],
                                       chosen))
    if not series:
        return None
    title = text(i.lang, "ch_sensitivity", metric=metric_name(i.lang, metric))
    return title, charts.curves(series, title=title, x_label=text(i.lang, "ax_lr"),
                                y_label=text(i.lang, "ax_validation", metric=metric_name(i.lang, metric)))


FRONT_FROM = 4  # trained methods from which the Pareto charts are drawn (with three, the tables say it all)


def _fronts(i: Inputs, y_label: str) -> list[tuple[str, str]]:
    """Score against peak memory and against training time, the Pareto front marked (ranking.py)."""
    trained = [r for r in i.trained if r.score is not None]
    if len(trained) < FRONT_FROM:
        return []
    host = not all(r.memory_label.startswith("GPU") for r in trained)
    labels = {"memory": text(i.lang, "ax_memory_host" if host else "ax_gpu"), "time": text(i.lang, "ax_time")}
    drawn = []
    for axis, cost in COSTS.items():  # a time under load is neither drawn nor on the front
        x_label = labels[axis]
        title = text(i.lang, f"ch_front_{axis}", Metric=title_metric(i.lang, i.metric))
        measured = [r for r in trained if cost(r) is not None]
        points = [replace(_estimate(i, r, cost(r)), label=str(r.rank)) for r in measured]  # the ranking's numbers
        drawn.append((title, charts.front(points, [axis in r.pareto for r in measured], title=title, x_label=x_label,
                                          y_label=y_label, front_label=text(i.lang, "front_label"),
                                          reference=_reference(i), higher_is_better=i.first.higher_is_better,
                                          percent=i.percent)))
    return drawn


def figures(i: Inputs) -> list[tuple[str, Markup]]:
    """(caption, inline SVG) of every chart the section's data supports."""
    lang, big = i.lang, title_metric(i.lang, i.metric)
    reference, y_label = _reference(i), _y_label(i)
    higher = i.first.higher_is_better
    drawn: list[tuple[str, str]] = []
    title = text(lang, "ch_scores", Metric=big)
    drawn.append((title, charts.scores([_estimate(i, r) for r in i.measured], title=title, x_label=y_label,
                                       reference=reference, higher_is_better=higher, percent=i.percent)))
    trained = i.trained
    title = text(lang, "ch_params", Metric=big)
    drawn.append((title, charts.scatter([_estimate(i, r, r.trainable_parameters) for r in trained
                                         if r.trainable_parameters], title=title, x_label=text(lang, "ax_params"),
                                        y_label=y_label, reference=reference, log_x=True, higher_is_better=higher,
                                        percent=i.percent)))
    title = text(lang, "ch_cost_loaded" if i.loaded else "ch_cost", Metric=big)
    drawn.append((title, charts.scatter([_estimate(i, r, r.cost_per_run) for r in trained
                                         if r.cost_per_run is not None], title=title,
                                        x_label=text(lang, "ax_cost", currency=currency_name(i.currency, lang)),
                                        y_label=y_label, reference=reference, higher_is_better=higher,
                                        percent=i.percent)))
    on_gpu = [r for r in trained if r.gpu_need_mib is not None]
    if on_gpu:
        title = text(lang, "ch_gpu", Metric=big)
        drawn.append((title, charts.scatter([_estimate(i, r, r.gpu_need_mib) for r in on_gpu], title=title,
                                            x_label=text(lang, "ax_gpu"), y_label=y_label, reference=reference,
                                            higher_is_better=higher, percent=i.percent)))
    drawn += _fronts(i, y_label)
    seed = min((s for r in trained for s in i.ok_runs[r.method]), default=None)
    if seed is not None:
        title = text(lang, "ch_loss", seed=seed)
        drawn.append((title, charts.lines(
            [(i.name_of(r), r.method_kind, i.ok_runs[r.method][seed].loss_curve)
             for r in trained if seed in i.ok_runs[r.method]],
            title=title, x_label=text(lang, "ax_step"), y_label=text(lang, "ax_loss"))))
    found = _sensitivity(i)
    if found:
        drawn.append(found)
    # The SVG comes from matplotlib, which escapes every text it writes (user names included).
    return [(caption, Markup(svg)) for caption, svg in drawn if svg]
