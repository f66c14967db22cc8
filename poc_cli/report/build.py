"""Assemble one report section per recipe: every number comes from the store's records.

The context holds text already formatted for the chosen language; templates only lay it
out (and escape it). Charts are SVG strings built with escaped labels.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from markupsafe import Markup
from pydantic import ValidationError

from poc_cli.business import business_outcome
from poc_cli.compare import MethodRow, compare, compare_records, latest_records, paired_difference
from poc_cli.cost import Price, energy_cost, projected_cost
from poc_cli.errors import PocError
from poc_cli.formatting import config_text, metric_header, metric_text
from poc_cli.recipe import Recipe
from poc_cli.result import Status
from poc_cli.report import charts
from poc_cli.report.conclusion import Conclusion, decide
from poc_cli.report.i18n import TEXT, reason_text, text
from poc_cli.search import GOOD_WITHIN, sensitivity
from poc_cli.stats import pareto_front
from poc_cli.store import Store


STATUSES = {s.value for s in Status}


def _pt(value: float) -> str:
    return f"{100 * value:+.1f}"


def _duration(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return "-"
    units = {"en": ("s", "min", "h"), "ja": ("秒", "分", "時間")}[lang]
    if seconds < 120:
        return f"{seconds:.1f} {units[0]}"
    if seconds < 7200:
        return f"{seconds / 60:.1f} {units[1]}"
    return f"{seconds / 3600:.1f} {units[2]}"


def _money(value: float | None, currency: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.4f} {currency}" if abs(value) < 1 else f"{value:,.2f} {currency}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} MiB"


def _size(value: int | None) -> str:
    return "-" if not value else f"{value / 1e6:.2f} MB"


def _memory_label(row: MethodRow, lang: str) -> str:
    return text(lang, "mem_gpu" if row.memory_label.startswith("GPU") else "mem_host")


def _statuses(counts: dict[str, int], lang: str) -> str:
    return ", ".join(f"{n} {text(lang, 'st_' + status)}" for status, n in counts.items())


def _conclusion_text(c: Conclusion, rows: list[MethodRow], lang: str) -> str:
    """The rule's sentence; where the task measures forgetting, what each PEFT method's training cost in it."""
    sentence = _rule_text(c, rows, lang)
    kinds = {r.method_kind: r for r in rows if r.score is not None}
    lora, rand = kinds.get("lora"), kinds.get("randlora")
    if c.rule in {"full", "randlora", "lora", "inconclusive"} and lora and rand and "forgetting" in lora.scores \
            and "forgetting" in rand.scores:
        sentence += ("" if lang == "ja" else " ") + text(lang, "conclusion_forgetting", r=f"{rand.scores['forgetting'].mean:+.3f}",
                               l=f"{lora.scores['forgetting'].mean:+.3f}")
    return sentence


def _rule_text(c: Conclusion, rows: list[MethodRow], lang: str) -> str:
    kinds = {r.method_kind: r for r in rows if r.score is not None}
    metric = _metric(lang, rows[0].metric)
    d = c.randlora_vs_lora
    if c.rule == "full":
        f = c.full_vs_best_peft
        return text(lang, "rule_full", metric=metric, gain=f"{100 * f.mean:.1f}", best=c.best_peft, lo=_pt(f.low), hi=_pt(f.high),
                    mem=_mib(kinds["full"].peak_memory_mib))
    if c.rule == "randlora":
        lora, rand = kinds["lora"], kinds["randlora"]
        ratio = rand.train_s.mean / lora.train_s.mean if rand.train_s and lora.train_s else float("nan")
        return text(lang, "rule_randlora", metric=metric, gain=f"{100 * d.mean:.1f}", lo=_pt(d.low), hi=_pt(d.high),
                    ratio=f"{ratio:.2f}")
    if c.rule == "lora":
        return text(lang, "rule_lora", metric=metric, loss=f"{-100 * d.mean:.1f}", lo=_pt(d.low), hi=_pt(d.high))
    if c.rule == "unreliable":
        failed = ", ".join(r.method for r in rows if r.selection.get("held") is False)
        return text(lang, "rule_unreliable", methods=failed)
    if c.rule == "inconclusive" and d is not None:
        return text(lang, "rule_inconclusive", metric=metric, diff=_pt(d.mean), lo=_pt(d.low), hi=_pt(d.high))
    return text(lang, "rule_insufficient")


def _diff_cell(row: MethodRow, lang: str) -> str:
    d = row.difference
    if d is None:
        return text(lang, "reference") if row.method == row.baseline else "-"
    verdict = "" if d.significant else f" — {text(lang, 'not_significant')}"
    return f"{_pt(d.mean)} pt [{_pt(d.low)}, {_pt(d.high)}]{verdict}"


def _settings(row: MethodRow, lang: str) -> str:
    return config_text(row.method_kind, row.settings, row.lr, all_parameters=text(lang, "all_parameters"),
                       nothing_trained=text(lang, "nothing_trained"))


def _metric(lang: str, metric: str) -> str:
    """A declared metric's name in `lang` (its id where the report has no name for it)."""
    key = "metric_" + metric
    return text(lang, key) if key in TEXT[lang] else metric


def _title_metric(lang: str, metric: str) -> str:
    """The metric's name at the start of a heading."""
    name = _metric(lang, metric)
    return name[:1].upper() + name[1:]


def _chosen(row: MethodRow, lang: str) -> str:
    selection = row.selection
    if selection.get("how") == "search":
        runs = selection.get("runs_validation")
        return text(lang, "chosen_search", n=selection["trials"], metric=_metric(lang, selection["metric"]),
                    score=f"{100 * selection['score']:.1f}",
                    runs="-" if runs is None else f"{100 * runs:.1f}")
    return text(lang, "chosen_" + selection["how"]) if selection.get("how") else "-"


def _price_note(price: Price, lang: str) -> str:
    if price.assumed is None:
        return text(lang, "price_user", price=f"{price.per_hour:g}", currency=price.currency)
    what = text(lang, "what_cpu") if price.assumed == "cpu" else price.assumed
    return text(lang, "price_assumed", price=f"{price.per_hour:g}", currency=price.currency, what=what)


def _recipe(records: list[dict[str, Any]]) -> Recipe | None:
    try:
        return Recipe.model_validate(records[0]["job"]["recipe"])
    except (ValidationError, KeyError, IndexError):
        return None


@dataclass(frozen=True)
class _Inputs:
    """What every part of a recipe's section reads."""

    name: str
    rows: list[MethodRow]
    records: list[dict[str, Any]]
    recipe: Recipe | None
    ok_runs: dict[str, dict[int, dict[str, Any]]]  # method -> seed -> ok record
    lang: str

    @property
    def measured(self) -> list[MethodRow]:
        return [r for r in self.rows if r.score is not None]

    @property
    def trained(self) -> list[MethodRow]:
        """Measured rows that trained (not the untrained reference): what time, memory and cost compare."""
        return [r for r in self.measured if r.train_s is not None]

    @property
    def metric(self) -> str:
        """The task's primary metric, as the records declare it."""
        return self.rows[0].metric

    @property
    def by_kind(self) -> dict[str, MethodRow]:
        return {r.method_kind: r for r in self.measured}

    @property
    def selections(self) -> dict[str, dict[str, Any]]:
        """Each measured method's stored selection (how its setting was chosen)."""
        return {r.method: next(iter(self.ok_runs[r.method].values())).get("selection") or {} for r in self.measured}

    @property
    def currency(self) -> str:
        return self.rows[0].price.currency

    @property
    def any_run(self) -> dict[str, Any]:
        """An ok run that trained (the untrained reference has no throughput or schedule), else any record."""
        trained = (run for r in self.trained for run in self.ok_runs[r.method].values())
        return next(trained, next((run for runs in self.ok_runs.values() for run in runs.values()), self.records[0]))


def _conclusion(i: _Inputs) -> Conclusion:
    peft = [r for r in i.measured if r.method_kind in {"lora", "randlora"}]
    sign = 1.0 if i.rows[0].higher_is_better else -1.0
    best = max(peft, key=lambda r: sign * r.score.mean) if peft else None
    full = i.by_kind.get("full")
    full_vs_best = None
    if best is not None and full is not None:
        full_vs_best = paired_difference(i.ok_runs[full.method], i.ok_runs[best.method], i.metric)
    return decide(i.rows, full_vs_best=full_vs_best, best_peft=best.method if best else None,
                  memory_limit_mib=i.recipe.report.memory_limit_mib if i.recipe else None,
                  not_held=frozenset(r.method for r in i.rows if r.selection.get("held") is False))


def _table(i: _Inputs) -> dict[str, Any]:
    lang, baseline = i.lang, i.rows[0].baseline
    metrics = list(i.rows[0].scores) or [i.metric]
    return {
        "headers": [text(lang, "c_method"), text(lang, "c_config"), text(lang, "c_trainable")]
        + [text(lang, "c_metric", metric=_title_metric(lang, m)) if i.rows[0].units.get(m, "fraction") == "fraction"
           else metric_header(_title_metric(lang, m), i.rows[0].units[m]) for m in metrics]
        + [text(lang, k, baseline=baseline) for k in (
            "c_diff", "c_memory", "c_time", "c_throughput", "c_energy", "c_cost", "c_adapter", "c_runs")],
        "rows": [[
            r.method, f"{_settings(r, lang)}; {_chosen(r, lang)}",
            f"{r.trainable_parameters:,} ({r.percent_of_full:.2f}%)" if r.trainable_parameters is not None else "-",
            *[metric_text(r.scores.get(m), r.units.get(m, "fraction")) for m in metrics], _diff_cell(r, lang),
            f"{_mib(r.peak_memory_mib)} ({_memory_label(r, lang)})" if r.peak_memory_mib else "-",
            _duration(r.train_s.mean if r.train_s else None, lang),
            f"{r.examples_per_s:.1f}" if r.examples_per_s else "-",
            f"{r.energy_j:,.0f} J" if r.energy_j is not None else text(lang, "not_measured"),
            _money(r.cost_per_run, i.currency), _size(r.adapter_bytes), _statuses(r.statuses, lang),
        ] for r in i.rows],
    }


def _points(i: _Inputs, x: str) -> list[charts.Point]:
    """The primary score (mean, std in %) of each trained method against one of its figures (an
    untrained reference has no training parameters, memory or cost to place it by)."""
    return [charts.Point(r.method, r.method_kind, getattr(r, x), 100 * r.score.mean,
                         100 * r.score.std if r.score.std else None)
            for r in i.trained if getattr(r, x) is not None]


def _trials_table(i: _Inputs) -> dict[str, Any] | None:
    """Every search trial's setting and validation score (the chart's numbers, for the text report)."""
    lang, rows, metric = i.lang, [], i.metric
    for r in i.measured:
        selection = i.selections[r.method]
        if selection.get("how") != "search":
            continue
        metric, chosen = selection["metric"], selection["chosen"]
        for t in sorted(selection["trials"], key=lambda t: (t["alpha_ratio"] or 0, t["lr"])):
            picked = t["lr"] == chosen["lr"] and t["alpha_ratio"] == chosen["alpha_ratio"]
            rows.append([r.method, "-" if t["alpha_ratio"] is None else f"{t['alpha_ratio']:g}", f"{t['lr']:g}",
                         text(lang, "st_" + t["status"]) if t["status"] in STATUSES else t["status"],
                         "-" if t["score"] is None else f"{100 * t['score']:.1f}",
                         text(lang, "chosen_mark") if picked else ""])
    if not rows:
        return None
    return {"headers": [text(lang, "c_method"), "alpha_ratio", text(lang, "c_lr"), text(lang, "c_status"),
                        text(lang, "c_score", metric=_metric(lang, metric)), ""], "rows": rows}


def _sensitivity_chart(i: _Inputs) -> tuple[str, str]:
    """Validation score against learning rate for every searched method (one line per alpha_ratio)."""
    lang, series, metric = i.lang, [], i.metric
    for r in i.measured:
        found = sensitivity(i.selections[r.method])
        if found is None:
            continue
        selection = i.selections[r.method]
        metric = selection["metric"]
        for alpha, points in found.curves.items():
            label = r.method if alpha is None or len(found.curves) == 1 else f"{r.method} alpha_ratio={alpha:g}"
            chosen = selection["chosen"]["lr"] if alpha == selection["chosen"]["alpha_ratio"] else None
            series.append(charts.Curve(label, r.method_kind, [(lr, None if s is None else 100 * s) for lr, s in points],
                                       chosen))
    title = text(lang, "ch_sensitivity", metric=_metric(lang, metric))
    return title, charts.curves(series, title=title, x_label=text(lang, "ax_lr"),
                                y_label=text(lang, "ax_validation", metric=_metric(lang, metric)))


def _charts(i: _Inputs) -> tuple[list[tuple[str, Markup]], str]:
    lang = i.lang
    params, memory, cost = _points(i, "trainable_parameters"), _points(i, "peak_memory_mib"), _points(i, "cost_per_run")
    seed = min((s for runs in i.ok_runs.values() for s in runs), default=None)
    losses = [(r.method, r.method_kind, i.ok_runs[r.method][seed]["loss_curve"])
              for r in i.trained if seed in i.ok_runs[r.method]]
    score = text(lang, "ax_metric", metric=_metric(lang, i.metric))
    titles = {k: text(lang, k, Metric=_title_metric(lang, i.metric)) for k in ("ch_params", "ch_memory", "ch_cost")}
    drawn = [
        _sensitivity_chart(i),
        (titles["ch_params"], charts.scatter(params, title=titles["ch_params"],
                                             x_label=text(lang, "ax_params"), y_label=score, log_x=True)),
        (titles["ch_memory"], charts.scatter(memory, title=titles["ch_memory"],
                                             x_label=text(lang, "ax_memory"), y_label=score)),
        (titles["ch_cost"], charts.scatter(cost, title=titles["ch_cost"],
                                           x_label=text(lang, "ax_cost", currency=i.currency), y_label=score)),
        (text(lang, "ch_loss", seed=seed), charts.lines(losses, title=text(lang, "ch_loss", seed=seed),
                                                        x_label=text(lang, "ax_step"), y_label=text(lang, "ax_loss"))),
    ]

    def front(points: list[charts.Point]) -> str:
        return ", ".join(points[k].label for k in pareto_front([(p.y, p.x) for p in points])) or "-"

    pareto = text(lang, "pareto", memory=front(memory), cost=front(cost))
    return [(title, Markup(svg)) for title, svg in drawn if svg], pareto


def _scale(i: _Inputs) -> tuple[int, float]:
    """(examples, epochs) of the full-scale training: the recipe's cost section, else what the PoC ran."""
    run = i.any_run
    train = run.get("data", {}).get("sizes", {}).get("train") or 1
    ran_epochs = run.get("throughput", {}).get("examples", 0) / train
    spec = i.recipe.cost if i.recipe else None
    examples = spec.target_train_examples if spec and spec.target_train_examples else train
    epochs = spec.target_epochs if spec and spec.target_epochs else ran_epochs
    return examples, epochs


def _cost(i: _Inputs) -> dict[str, Any]:
    lang, currency = i.lang, i.currency
    kwh_price = i.recipe.cost.electricity_price_per_kwh if i.recipe else 0.15
    examples, epochs = _scale(i)
    base = next((r for r in i.rows if r.method == r.baseline), None)
    rows = []
    for r in i.measured:
        projection = "-"
        if r.examples_per_s:
            hours, projected = projected_cost(examples=examples, epochs=epochs, examples_per_s=r.examples_per_s,
                                              price=r.price)
            projection = f"{_duration(hours * 3600, lang)} / {_money(projected, currency)}"
        per_point = None
        if (base is not None and r is not base and r.difference and r.difference.mean > 0
                and r.cost_per_run is not None and base.cost_per_run is not None):
            per_point = (r.cost_per_run - base.cost_per_run) / (100 * r.difference.mean)
        energy = (_money(energy_cost(r.energy_j, kwh_price), currency) if r.energy_j is not None
                  else text(lang, "not_measured"))
        rows.append([r.method, _money(r.cost_per_run, currency), energy, projection, _money(per_point, currency)])
    return {
        "headers": [text(lang, "c_method"), text(lang, "c_cost"), text(lang, "c_energy_cost"),
                    text(lang, "c_projection"), text(lang, "c_per_point", baseline=i.rows[0].baseline,
                                                     metric=_metric(lang, i.metric))],
        "rows": rows,
        "notes": [_price_note(i.rows[0].price, lang),
                  text(lang, "projection_note", examples=f"{examples:,}", epochs=f"{epochs:g}")],
    }


def _business(i: _Inputs) -> dict[str, Any] | None:
    if i.recipe is None or i.recipe.business is None:
        return None
    spec, lang, currency = i.recipe.business, i.lang, i.currency
    rows = []
    for r in i.measured:
        runs = list(i.ok_runs[r.method].values())
        outcome = business_outcome(
            spec, y_true=[y for run in runs for y in run["predictions"]["test"]["y_true"]],
            y_pred=[y for run in runs for y in run["predictions"]["test"]["y_pred"]],
            labels=runs[0]["data"]["labels"], training_cost=r.cost_per_run or 0.0)
        rows.append([r.method, f"{100 * outcome.detection_rate:.1f}%", f"{100 * outcome.false_alarm_rate:.1f}%",
                     f"{100 * outcome.precision:.1f}%" if outcome.precision is not None else "-",
                     f"{outcome.monthly_missed:,.0f}", f"{outcome.monthly_false_alarms:,.0f}",
                     _money(outcome.monthly_error_cost, currency), f"{outcome.monthly_hours_saved:,.0f}",
                     _money(outcome.monthly_value, currency),
                     f"{outcome.payback_months:.2f}" if outcome.payback_months is not None else text(lang, "never")])
    return {
        "headers": [text(lang, k) for k in ("c_method", "c_detection", "c_false_alarm", "c_precision", "c_missed",
                                             "c_alarms", "c_error_cost", "c_hours", "c_value", "c_payback")],
        "rows": rows,
        "note": text(lang, "business_note", positive=spec.positive_class, items=f"{spec.monthly_items:,}",
                     minutes=f"{spec.minutes_per_item:g}", missed=f"{spec.cost_missed:,.0f}",
                     alarm=f"{spec.cost_false_alarm:,.0f}", currency=currency),
    }


def _talking_points(i: _Inputs, conclusion_text: str) -> list[str]:
    kinds, lang = i.by_kind, i.lang
    if not {"lora", "randlora"} <= set(kinds):
        return []
    lora, rand = kinds["lora"], kinds["randlora"]
    params = next(iter(i.ok_runs[rand.method].values()))["parameters"]
    points = [
        text(lang, "tp_budget", metric=_metric(lang, i.metric), budget=f"{params['budget']:,}", pct=f"{100 * params['budget'] / params['full_model']:.2f}%",
             acc_r=f"{100 * rand.score.mean:.1f}", acc_l=f"{100 * lora.score.mean:.1f}",
             n=min(rand.score.n, lora.score.n)),
        conclusion_text,
    ]
    full = kinds.get("full")
    if full is not None:
        points += [
            text(lang, "tp_full", metric=_metric(lang, i.metric), params=f"{full.trainable_parameters:,}",
                 acc_f=f"{100 * full.score.mean:.1f}"),
            text(lang, "tp_time", t_r=_duration(rand.train_s.mean, lang), t_l=_duration(lora.train_s.mean, lang),
                 t_f=_duration(full.train_s.mean, lang)),
            text(lang, "tp_memory", label=_memory_label(rand, lang), m_r=_mib(rand.peak_memory_mib),
                 m_l=_mib(lora.peak_memory_mib), m_f=_mib(full.peak_memory_mib)),
            text(lang, "tp_size", a_r=_size(rand.adapter_bytes), a_l=_size(lora.adapter_bytes),
                 a_f=_size(full.adapter_bytes)),
        ]
    forgetting = [f"{r.method} {r.scores['forgetting'].mean:+.3f} nats" for r in i.trained if "forgetting" in r.scores]
    if forgetting:
        points.append(text(lang, "tp_forgetting", values=", ".join(forgetting)))
    return points


def _length_text(lang: str, length: dict[str, Any]) -> str:
    if length.get("steps"):
        return text(lang, "length_steps", n=length["steps"])
    return text(lang, "length_epochs", n=length.get("epochs") or 1)


def _not_held(i: _Inputs, row: MethodRow, selection: dict[str, Any]) -> list[str]:
    """A risk when the seeded runs score far below the winning trial on the same validation split
    (compare's selection summary has already measured it)."""
    summary = row.selection
    if summary.get("held", True):
        return []
    trial_length = selection["trial_length"]
    run_training = next(iter(i.ok_runs[row.method].values()))["job"]["training"]
    run_length = {"epochs": run_training.get("epochs"), "steps": run_training.get("steps")}
    why = ""
    if trial_length != run_length:
        why = text(i.lang, "why_shorter", trial_len=_length_text(i.lang, trial_length),
                   run_len=_length_text(i.lang, run_length))
    runs = summary["runs_validation"]
    return [text(i.lang, "risk_not_held", method=row.method, runs=f"{100 * runs:.1f}",
                 drop=f"{100 * (summary['score'] - runs):.1f}", trial=f"{100 * summary['score']:.1f}", why=why)]


def _search_risks(i: _Inputs) -> list[str]:
    """What the search says about each method: narrow good region, best at the grid's edge, divergence,
    or no tuning at all (the learning rate can decide the ranking at PoC sizes)."""
    lang, risks = i.lang, []
    untuned = [r.method for r in i.trained if i.selections[r.method].get("how") != "search"]
    if untuned:
        risks.append(text(lang, "risk_not_tuned", methods=", ".join(untuned)))
    for r in i.measured:
        selection = i.selections[r.method]
        found = sensitivity(selection)
        if found is None:
            continue
        risks += _not_held(i, r, selection)
        lr = f"{selection['chosen']['lr']:g}"
        if found.narrow:
            curve = found.curves[selection["chosen"]["alpha_ratio"]]
            k = [x for x, _ in curve].index(selection["chosen"]["lr"])
            neighbours = ", ".join(f"{x:g}: " + ("-" if y is None else f"{100 * y:.1f}%")
                                   for x, y in (curve[j] for j in (k - 1, k + 1) if 0 <= j < len(curve)))
            risks.append(text(lang, "risk_narrow", method=r.method, lr=lr, best=f"{100 * selection['score']:.1f}",
                              neighbours=neighbours, within=f"{100 * GOOD_WITHIN:g}"))
        if found.at_edge:
            risks.append(text(lang, "risk_edge", method=r.method, lr=lr))
        if found.diverged:
            risks.append(text(lang, "risk_diverged", method=r.method, n=found.diverged, total=len(selection["trials"])))
    return risks


def _risks(i: _Inputs) -> list[str]:
    lang, seed = i.lang, text(i.lang, "seed")
    risks = []
    failed = [f"{r['method']} {seed} {r['seed']} ({text(lang, 'st_' + r['status'])})"
              for r in i.records if r["status"] != "ok"]
    if failed:
        risks.append(text(lang, "risk_failed", n=len(failed), which=", ".join(failed)))
    if any(r.score.n == 1 for r in i.trained):
        risks.append(text(lang, "risk_one_seed"))
    if any(r.memory_label.startswith("host") for r in i.trained):
        risks.append(text(lang, "risk_no_gpu"))
    risks += _search_risks(i)
    for r in i.records:
        for warning in r.get("warnings", []):
            risks.append(text(lang, "risk_warning", method=f"{r['method']} {seed} {r['seed']}", warning=warning))
    return risks or [text(lang, "risk_none")]


def _methodology(i: _Inputs) -> list[tuple[str, str]]:
    lang, run = i.lang, i.any_run
    env = run.get("environment", {})
    hw = env.get("hardware", {})
    gpu = run.get("gpu") or {}
    device = gpu.get("device") or {}
    hardware = ", ".join(filter(None, [
        device.get("name") and f"{device['name']} ({device.get('total_mib', 0):,.0f} MiB)",
        f"{hw.get('cpu_count')} CPU cores, {hw.get('memory_total_mib', 0):,} MiB RAM" if hw else None,
        hw.get("platform")]))
    versions = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items() if v)
    if env.get("git_commit"):
        versions += f"; poc commit {env['git_commit']}"
    data = "; ".join(f"{s['path']} (sha256 {s['sha256'][:12]}…, {s['bytes']:,} bytes)"
                     for s in run.get("data", {}).get("sources", []))
    data += " — " + ", ".join(f"{k} {v:,}" for k, v in run.get("data", {}).get("sizes", {}).items())
    params = run.get("parameters", {})
    return [
        (text(lang, "m_hardware"), hardware or "-"),
        (text(lang, "m_versions"), versions or "-"),
        (text(lang, "m_data"), data),
        (text(lang, "m_seeds"), text(lang, "seeds_text", seeds=", ".join(map(str, sorted({r["seed"] for r in i.records}))))),
        (text(lang, "m_budget"), text(lang, "budget_text_no_head" if params.get("head") == 0 else "budget_text",
                                      budget=f"{params.get('budget', 0):,}", head=f"{params.get('head', 0):,}")),
        (text(lang, "m_search"), _search_method(i)),
        (text(lang, "m_rules"), text(lang, "rules_text")),
        (text(lang, "m_missing"), text(lang, "missing_gpu", reason=reason_text(lang, gpu["reason"]))
         if gpu.get("reason") else text(lang, "nothing_missing")),
    ]


def _search_method(i: _Inputs) -> str:
    """How each method's learning rate was set: the search and its grids, or fixed values."""
    lang, parts = i.lang, []
    searched = {m: s for m, s in i.selections.items() if s.get("how") == "search"}
    if searched:
        first = next(iter(searched.values()))
        length = first["trial_length"]
        grids = "; ".join(
            f"{method}: " + ", ".join(sorted({f'{t["lr"]:g}' for t in s["trials"]}, key=float))
            + ("" if {t["alpha_ratio"] for t in s["trials"]} == {None} else
               " x alpha_ratio " + ", ".join(sorted({f'{t["alpha_ratio"]:g}' for t in s["trials"]}, key=float)))
            for method, s in searched.items())
        parts.append(text(lang, "search_text", grids=grids, metric=_metric(lang, first["metric"]), seed=first["seed"],
                          n_val=f"{first.get('examples', {}).get('validation', 0):,}",
                          length=_length_text(lang, length)))
    fixed = [text(lang, "fixed_item", method=r.method, lr=f"{r.lr:g}",
                  how=text(lang, "chosen_" + i.selections[r.method]["how"]))
             for r in i.measured if r.method not in searched and i.selections[r.method].get("how") and r.lr]
    if fixed:
        parts.append(text(lang, "fixed_text", methods=", ".join(fixed)))
    return " ".join(parts) or "-"


def _section(i: _Inputs) -> dict[str, Any]:
    conclusion = _conclusion(i)
    conclusion_text = _conclusion_text(conclusion, i.rows, i.lang)
    chart_list, pareto = _charts(i)
    return {
        "name": i.name,
        "title": text(i.lang, "title", recipe=i.name),
        "subtitle": text(i.lang, "subtitle"),
        "description": i.recipe.description if i.recipe else "",
        "generated": text(i.lang, "generated", date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                          n=len(i.records)),
        "conclusion": conclusion_text,
        "rule": conclusion.rule,
        "recommended": conclusion.recommended,
        "rules_note": text(i.lang, "rules_note"),
        "table": _table(i),
        "table_note": text(i.lang, "table_note", baseline=i.rows[0].baseline,
                           metrics=", ".join(_title_metric(i.lang, m) for m, unit in i.rows[0].units.items()
                                             if unit == "fraction")),
        "charts": chart_list,
        "pareto": pareto,
        "trials": _trials_table(i),
        "cost": _cost(i),
        "business": _business(i),
        "talking_points": _talking_points(i, conclusion_text),
        "risks": _risks(i),
        "methodology": _methodology(i),
    }


def build_sections(store: Store, *, lang: str, recipe: str | None = None, baseline: str | None = None,
                   price: Price | None = None) -> list[dict[str, Any]]:
    """One report section per recipe in the store (or the one named)."""
    if lang not in {"en", "ja"}:
        raise PocError(f"--lang: {lang!r} is not supported; use en or ja")
    records = [r for r in latest_records(store) if recipe is None or r["recipe_name"] == recipe]
    names = list(dict.fromkeys(r["recipe_name"] for r in sorted(records, key=lambda r: r["recipe_name"])))
    if not names:
        compare(store, recipe=recipe)  # raises the store's own error (missing, empty, filtered out)
    sections = []
    for name in names:
        recipe_records = [r for r in records if r["recipe_name"] == name]
        parsed = _recipe(recipe_records)
        reference = baseline or (parsed.report.baseline if parsed else None)
        ok_runs: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
        for r in recipe_records:
            if r["status"] == "ok":
                ok_runs[r["method"]][r["seed"]] = r
        rows = compare_records(recipe_records, baseline=reference, price=price)
        sections.append(_section(_Inputs(name, rows, recipe_records, parsed, ok_runs, lang)))
    return sections
