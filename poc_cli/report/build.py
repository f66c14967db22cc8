"""Assemble one report section per recipe: every number comes from the store's records.

The context holds text already formatted for the chosen language; templates only lay it
out (and escape it). Charts are SVG strings built with escaped labels.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from markupsafe import Markup
from pydantic import ValidationError

from poc_cli.business import business_outcome
from poc_cli.compare import MethodRow, compare, latest_records, paired_difference
from poc_cli.cost import Price, energy_cost, projected_cost
from poc_cli.errors import PocError
from poc_cli.recipe import Recipe
from poc_cli.report import charts
from poc_cli.report.conclusion import Conclusion, decide
from poc_cli.report.i18n import reason_text, text
from poc_cli.stats import pareto_front
from poc_cli.store import Store


def _pt(value: float) -> str:
    return f"{100 * value:+.1f}"


def _pct(summary: Any) -> str:
    if summary is None:
        return "-"
    std = f" ± {100 * summary.std:.1f}" if summary.std is not None else ""
    return f"{100 * summary.mean:.1f}{std} (n={summary.n})"


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
    kinds = {r.method_kind: r for r in rows if r.accuracy is not None}
    d = c.randlora_vs_lora
    if c.rule == "full":
        f = c.full_vs_best_peft
        return text(lang, "rule_full", gain=f"{100 * f.mean:.1f}", best=c.best_peft, lo=_pt(f.low), hi=_pt(f.high),
                    mem=_mib(kinds["full"].peak_memory_mib))
    if c.rule == "randlora":
        lora, rand = kinds["lora"], kinds["randlora"]
        ratio = rand.train_s.mean / lora.train_s.mean if rand.train_s and lora.train_s else float("nan")
        return text(lang, "rule_randlora", gain=f"{100 * d.mean:.1f}", lo=_pt(d.low), hi=_pt(d.high),
                    ratio=f"{ratio:.2f}")
    if c.rule == "lora":
        return text(lang, "rule_lora", loss=f"{-100 * d.mean:.1f}", lo=_pt(d.low), hi=_pt(d.high))
    if c.rule == "inconclusive" and d is not None:
        return text(lang, "rule_inconclusive", diff=_pt(d.mean), lo=_pt(d.low), hi=_pt(d.high))
    return text(lang, "rule_insufficient")


def _diff_cell(row: MethodRow, lang: str) -> str:
    d = row.difference
    if d is None:
        return text(lang, "reference") if row.method == row.baseline else "-"
    verdict = "" if d.significant else f" — {text(lang, 'not_significant')}"
    return f"{_pt(d.mean)} pt [{_pt(d.low)}, {_pt(d.high)}]{verdict}"


def _settings(row: MethodRow, lang: str) -> str:
    if row.method_kind == "full":
        return text(lang, "all_parameters")
    shown = {k: v for k, v in row.settings.items() if k in {"r", "alpha", "implementation"} or v not in (False, 0.0)}
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())


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


def _section(name: str, rows: list[MethodRow], records: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    recipe = _recipe(records)
    by_method: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        if r["status"] == "ok":
            by_method[r["method"]][r["seed"]] = r
    kinds = {r.method_kind: r for r in rows if r.accuracy is not None}
    peft = [r for r in rows if r.method_kind in {"lora", "randlora"} and r.accuracy is not None]
    best = max(peft, key=lambda r: r.accuracy.mean) if peft else None
    full_vs_best = None
    if best is not None and "full" in kinds:
        full_vs_best = paired_difference(by_method[kinds["full"].method], by_method[best.method])
    limit = recipe.report.memory_limit_mib if recipe else None
    conclusion = decide(rows, full_vs_best=full_vs_best, best_peft=best.method if best else None,
                        memory_limit_mib=limit)
    baseline = rows[0].baseline
    currency = rows[0].price.currency

    table = {
        "headers": [text(lang, k, baseline=baseline) for k in (
            "c_method", "c_config", "c_trainable", "c_accuracy", "c_f1", "c_diff", "c_memory", "c_time",
            "c_throughput", "c_energy", "c_cost", "c_adapter", "c_runs")],
        "rows": [[
            r.method, _settings(r, lang),
            f"{r.trainable_parameters:,} ({r.percent_of_full:.2f}%)" if r.trainable_parameters else "-",
            _pct(r.accuracy), _pct(r.macro_f1), _diff_cell(r, lang),
            f"{_mib(r.peak_memory_mib)} ({_memory_label(r, lang)})" if r.peak_memory_mib else "-",
            _duration(r.train_s.mean if r.train_s else None, lang),
            f"{r.examples_per_s:.1f}" if r.examples_per_s else "-",
            f"{r.energy_j:,.0f} J" if r.energy_j is not None else text(lang, "not_measured"),
            _money(r.cost_per_run, currency), _size(r.adapter_bytes),
            _statuses(r.statuses, lang),
        ] for r in rows],
    }

    measured = [r for r in rows if r.accuracy is not None]
    points = {
        "params": [charts.Point(r.method, r.method_kind, r.trainable_parameters, 100 * r.accuracy.mean,
                                100 * r.accuracy.std if r.accuracy.std else None) for r in measured],
        "memory": [charts.Point(r.method, r.method_kind, r.peak_memory_mib, 100 * r.accuracy.mean,
                                100 * r.accuracy.std if r.accuracy.std else None)
                   for r in measured if r.peak_memory_mib],
        "cost": [charts.Point(r.method, r.method_kind, r.cost_per_run, 100 * r.accuracy.mean,
                              100 * r.accuracy.std if r.accuracy.std else None)
                 for r in measured if r.cost_per_run is not None],
    }
    first_seed = min((s for runs in by_method.values() for s in runs), default=None)
    loss_series = [(r.method, r.method_kind, by_method[r.method][first_seed]["loss_curve"])
                   for r in measured if first_seed in by_method[r.method]]
    chart_list = [
        (text(lang, "ch_params"), charts.scatter(points["params"], title=text(lang, "ch_params"),
                                                 x_label=text(lang, "ax_params"), y_label=text(lang, "ax_accuracy"),
                                                 log_x=True)),
        (text(lang, "ch_memory"), charts.scatter(points["memory"], title=text(lang, "ch_memory"),
                                                 x_label=text(lang, "ax_memory"), y_label=text(lang, "ax_accuracy"))),
        (text(lang, "ch_cost"), charts.scatter(points["cost"], title=text(lang, "ch_cost"),
                                               x_label=text(lang, "ax_cost", currency=currency),
                                               y_label=text(lang, "ax_accuracy"))),
        (text(lang, "ch_loss", seed=first_seed), charts.lines(loss_series, title=text(lang, "ch_loss", seed=first_seed),
                                                              x_label=text(lang, "ax_step"),
                                                              y_label=text(lang, "ax_loss"))),
    ]

    def front(key: str) -> str:
        pts = points[key]
        return ", ".join(pts[i].label for i in pareto_front([(p.y, p.x) for p in pts])) or "-"

    # Cost: per run, energy, full-scale projection, extra cost per accuracy point over the baseline.
    cost_spec = recipe.cost if recipe else None
    base_row = next((r for r in rows if r.method == baseline), None)
    cost_rows = []
    for r in measured:
        runs = list(by_method[r.method].values())
        train_size = runs[0]["data"]["sizes"]["train"]
        epochs_done = runs[0]["throughput"]["examples"] / train_size
        examples = (cost_spec.target_train_examples if cost_spec and cost_spec.target_train_examples else train_size)
        epochs = cost_spec.target_epochs if cost_spec and cost_spec.target_epochs else epochs_done
        hours, projected = (projected_cost(examples=examples, epochs=epochs, examples_per_s=r.examples_per_s,
                                           price=r.price) if r.examples_per_s else (None, None))
        per_point = None
        if base_row is not None and r is not base_row and r.difference and r.difference.mean > 0 \
                and r.cost_per_run is not None and base_row.cost_per_run is not None:
            per_point = (r.cost_per_run - base_row.cost_per_run) / (100 * r.difference.mean)
        kwh_price = cost_spec.electricity_price_per_kwh if cost_spec else 0.15
        cost_rows.append([r.method, _money(r.cost_per_run, currency),
                          _money(energy_cost(r.energy_j, kwh_price), currency) if r.energy_j is not None
                          else text(lang, "not_measured"),
                          f"{_duration(hours * 3600, lang)} / {_money(projected, currency)}" if hours else "-",
                          _money(per_point, currency) if per_point is not None else "-"])
    first_runs = next(iter(by_method.values()), {})
    any_run = next(iter(first_runs.values()), records[0])
    examples_note = (cost_spec.target_train_examples if cost_spec and cost_spec.target_train_examples
                     else any_run.get("data", {}).get("sizes", {}).get("train", "-"))
    epochs_note = (cost_spec.target_epochs if cost_spec and cost_spec.target_epochs
                   else (any_run["throughput"]["examples"] / any_run["data"]["sizes"]["train"]
                         if any_run.get("throughput") else "-"))
    cost = {
        "headers": [text(lang, "c_method"), text(lang, "c_cost"), text(lang, "c_energy_cost"),
                    text(lang, "c_projection"), text(lang, "c_per_point", baseline=baseline)],
        "rows": cost_rows,
        "notes": [_price_note(rows[0].price, lang),
                  text(lang, "projection_note", examples=f"{examples_note:,}" if isinstance(examples_note, int)
                       else examples_note, epochs=f"{epochs_note:g}" if isinstance(epochs_note, float | int)
                       else epochs_note)],
    }

    business = None
    if recipe is not None and recipe.business is not None:
        spec = recipe.business
        b_rows = []
        for r in measured:
            runs = list(by_method[r.method].values())
            y_true = [y for run in runs for y in run["predictions"]["test"]["y_true"]]
            y_pred = [y for run in runs for y in run["predictions"]["test"]["y_pred"]]
            outcome = business_outcome(spec, y_true=y_true, y_pred=y_pred, labels=runs[0]["data"]["labels"],
                                       training_cost=r.cost_per_run or 0.0)
            b_rows.append([r.method, f"{100 * outcome.detection_rate:.1f}%", f"{100 * outcome.false_alarm_rate:.1f}%",
                           f"{100 * outcome.precision:.1f}%" if outcome.precision is not None else "-",
                           f"{outcome.monthly_missed:,.0f}", f"{outcome.monthly_false_alarms:,.0f}",
                           _money(outcome.monthly_error_cost, currency), f"{outcome.monthly_hours_saved:,.0f}",
                           _money(outcome.monthly_value, currency),
                           f"{outcome.payback_months:.2f}" if outcome.payback_months is not None
                           else text(lang, "never")])
        business = {
            "headers": [text(lang, k) for k in ("c_method", "c_detection", "c_false_alarm", "c_precision",
                                                 "c_missed", "c_alarms", "c_error_cost", "c_hours", "c_value",
                                                 "c_payback")],
            "rows": b_rows,
            "note": text(lang, "business_note", positive=spec.positive_class, items=f"{spec.monthly_items:,}",
                         minutes=f"{spec.minutes_per_item:g}", missed=f"{spec.cost_missed:,.0f}",
                         alarm=f"{spec.cost_false_alarm:,.0f}", currency=currency),
        }

    talking = []
    if {"lora", "randlora"} <= set(kinds):
        lora, rand = kinds["lora"], kinds["randlora"]
        rand_run = next(iter(by_method[rand.method].values()))
        talking.append(text(lang, "tp_budget", budget=f"{rand_run['parameters']['budget']:,}",
                            pct=f"{100 * rand_run['parameters']['budget'] / rand_run['parameters']['full_model']:.2f}%",
                            acc_r=f"{100 * rand.accuracy.mean:.1f}", acc_l=f"{100 * lora.accuracy.mean:.1f}",
                            n=min(rand.accuracy.n, lora.accuracy.n)))
        talking.append(_conclusion_text(conclusion, rows, lang))
        if "full" in kinds:
            full = kinds["full"]
            talking.append(text(lang, "tp_full", params=f"{full.trainable_parameters:,}",
                                acc_f=f"{100 * full.accuracy.mean:.1f}"))
            talking.append(text(lang, "tp_time", t_r=_duration(rand.train_s.mean, lang),
                                t_l=_duration(lora.train_s.mean, lang), t_f=_duration(full.train_s.mean, lang)))
            talking.append(text(lang, "tp_memory", label=_memory_label(rand, lang), m_r=_mib(rand.peak_memory_mib),
                                m_l=_mib(lora.peak_memory_mib), m_f=_mib(full.peak_memory_mib)))
            talking.append(text(lang, "tp_size", a_r=_size(rand.adapter_bytes), a_l=_size(lora.adapter_bytes),
                                a_f=_size(full.adapter_bytes)))

    risks = []
    seed = text(lang, "seed")
    failed = [f"{r['method']} {seed} {r['seed']} ({text(lang, 'st_' + r['status'])})"
              for r in records if r["status"] != "ok"]
    if failed:
        risks.append(text(lang, "risk_failed", n=len(failed), which=", ".join(failed)))
    if any(r.accuracy is not None and r.accuracy.n == 1 for r in rows):
        risks.append(text(lang, "risk_one_seed"))
    if any(r.memory_label.startswith("host") for r in measured):
        risks.append(text(lang, "risk_no_gpu"))
    for r in records:
        for warning in r.get("warnings", []):
            risks.append(text(lang, "risk_warning", method=f"{r['method']} {seed} {r['seed']}", warning=warning))
    if not risks:
        risks.append(text(lang, "risk_none"))

    env = any_run.get("environment", {})
    hw = env.get("hardware", {})
    gpu = (any_run.get("gpu") or {})
    device = gpu.get("device") or {}
    hardware = ", ".join(filter(None, [
        device.get("name") and f"{device['name']} ({device.get('total_mib', 0):,.0f} MiB)",
        f"{hw.get('cpu_count')} CPU cores, {hw.get('memory_total_mib', 0):,} MiB RAM" if hw else None,
        hw.get("platform")]))
    packages = env.get("packages", {})
    versions = ", ".join(f"{k} {v}" for k, v in packages.items() if v) + (
        f"; poc commit {env['git_commit']}" if env.get("git_commit") else "")
    sources = any_run.get("data", {}).get("sources", [])
    sizes = any_run.get("data", {}).get("sizes", {})
    data = "; ".join(f"{s['path']} (sha256 {s['sha256'][:12]}…, {s['bytes']:,} bytes)" for s in sources)
    data += " — " + ", ".join(f"{k} {v:,}" for k, v in sizes.items())
    seeds = sorted({r["seed"] for r in records})
    params = any_run.get("parameters", {})
    methodology = [
        (text(lang, "m_hardware"), hardware or "-"),
        (text(lang, "m_versions"), versions or "-"),
        (text(lang, "m_data"), data),
        (text(lang, "m_seeds"), text(lang, "seeds_text", seeds=", ".join(map(str, seeds)))),
        (text(lang, "m_budget"), text(lang, "budget_text", budget=f"{params.get('budget', 0):,}",
                                      head=f"{params.get('head', 0):,}")),
        (text(lang, "m_rules"), text(lang, "rules_text")),
        (text(lang, "m_missing"), text(lang, "missing_gpu", reason=reason_text(lang, gpu["reason"])) if gpu.get("reason")
         else text(lang, "nothing_missing")),
    ]
    return {
        "name": name,
        "title": text(lang, "title", recipe=name),
        "subtitle": text(lang, "subtitle"),
        "description": recipe.description if recipe else "",
        "generated": text(lang, "generated", date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                          n=len(records)),
        "conclusion": _conclusion_text(conclusion, rows, lang),
        "rule": conclusion.rule,
        "recommended": conclusion.recommended,
        "rules_note": text(lang, "rules_note"),
        "table": table,
        "table_note": text(lang, "table_note", baseline=baseline),
        "charts": [(title, Markup(svg)) for title, svg in chart_list if svg],
        "pareto": text(lang, "pareto", memory=front("memory"), cost=front("cost")),
        "cost": cost,
        "business": business,
        "talking_points": talking,
        "risks": risks,
        "methodology": methodology,
    }


def build_sections(store: Store, *, lang: str, recipe: str | None = None, baseline: str | None = None,
                   price: Price | None = None) -> list[dict[str, Any]]:
    """One report section per recipe in the store (or the one named)."""
    if lang not in {"en", "ja"}:
        raise PocError(f"--lang: {lang!r} is not supported; use en or ja")
    rows = compare(store, recipe=recipe, baseline=baseline, price=price)
    records = [r for r in latest_records(store) if recipe is None or r["recipe_name"] == recipe]
    sections = []
    for name in dict.fromkeys(r.recipe for r in rows):
        recipe_records = [r for r in records if r["recipe_name"] == name]
        recipe_baseline = baseline or (_recipe(recipe_records).report.baseline if _recipe(recipe_records) else None)
        recipe_rows = compare(store, recipe=name, baseline=recipe_baseline, price=price) \
            if recipe_baseline and recipe_baseline != rows[0].baseline else [r for r in rows if r.recipe == name]
        sections.append(_section(name, recipe_rows, recipe_records, lang))
    return sections
