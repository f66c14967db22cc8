"""The report's "Serving" section: what each method's model costs to serve, merged or as adapters.

From the records' `serving` sections (serving_summary.py): whether the adapter merges exactly, batch-1
latency and throughput merged and unmerged, the model and each adapter in memory and on disk, and the
adapter served as LoRA; with `business.serving` in the recipe, the monthly cost of serving its tasks
both ways and the total cost of ownership (serving_cost.py), with one sentence on what that changes.
"""

from __future__ import annotations

from typing import Any

from poc_cli.business_spec import ServingSpec
from poc_cli.compare import MethodRow
from poc_cli.numbers import NBSP, money
from poc_cli.report.common import Inputs, metric_name
from poc_cli.report.costs import one_training
from poc_cli.report.i18n import text
from poc_cli.serving_cost import ServingCost, Way, serving_cost
from poc_cli.serving_summary import ServingSummary


def _size(mib: float | None) -> str:
    """MiB with the digits a small figure needs (an adapter of a tiny model is a few KiB)."""
    if mib is None:
        return "-"
    if mib < 1:
        return f"{mib * 1024:,.0f}{NBSP}KiB"
    return f"{mib:,.1f}{NBSP}MiB" if mib < 100 else f"{mib:,.0f}{NBSP}MiB"


def _pair(merged: float | None, unmerged: float | None, digits: int) -> str:
    return " / ".join("-" if v is None else f"{v:,.{digits}f}" for v in (merged, unmerged))


def _merge(lang: str, s: ServingSummary) -> str:
    if s.merge == "inexact":
        changed = ("" if s.answers_changed is None else
                   text(lang, "sv_changed", n=s.answers_changed, of=s.answers_compared))
        return text(lang, "sv_inexact", diff=f"{s.merge_difference:.0e}" if s.merge_difference is not None else "?") \
            + changed
    return text(lang, f"sv_{s.merge.replace(' ', '_')}")


def _lora(i: Inputs, s: ServingSummary) -> str:
    if s.lora == "converted":
        unit = i.first.units.get(s.lora_metric or "", "fraction")
        diff = "-" if s.lora_difference is None else (
            f"{100 * s.lora_difference:+.1f}{NBSP}pt" if unit == "fraction" else f"{s.lora_difference:+.3g}")
        return text(i.lang, "sv_converted", r=s.lora_rank, metric=metric_name(i.lang, s.lora_metric or i.metric),
                    diff=diff, size=_size(s.lora_bytes / 2**20 if s.lora_bytes else None))
    if s.lora == "is LoRA":
        return text(i.lang, "sv_is_lora")
    return "-" if s.lora is None else text(i.lang, "sv_not_measured" if s.lora == "not measured" else "sv_no_lora")


def _disk(lang: str, s: ServingSummary) -> str:
    saved = _size(s.adapter_bytes / 2**20) if s.adapter_bytes else "-"
    if s.adapter_bytes_with_bases is None:
        return saved
    return text(lang, "sv_with_bases", saved=saved, bases=_size(s.adapter_bytes_with_bases / 2**20))


def _way(i: Inputs, way: Way) -> str:
    if way.monthly is None:
        return text(i.lang, f"sv_{way.bound.replace(' ', '_')}")
    return text(i.lang, "sv_way", cost=money(way.monthly, i.currency, i.lang), n=way.instances,
                bound=text(i.lang, f"sv_bound_{way.bound}"))


def _costs(i: Inputs, spec: ServingSpec, rows: list[MethodRow]) -> dict[str, ServingCost]:
    return {r.method: serving_cost(spec, r.serving, price_per_hour=r.price.per_hour,  # type: ignore[arg-type]
                                   training=one_training(i, r)) for r in rows}


def _sentence(i: Inputs, spec: ServingSpec | None, costs: dict[str, ServingCost], rows: list[MethodRow]) -> str:
    """What serving changes in the decision: where the monthly serving costs differ, the method with the lowest
    total cost of ownership and the one with the highest; where they are the same for every method, that
    serving does not separate them; without a serving block, what merging means."""
    priced = {m: c for m, c in costs.items() if c.total is not None}
    if spec is not None and priced:
        monthly = {c.cheaper.monthly for c in priced.values()}
        if len(monthly) == 1:
            way = next(iter(priced.values())).cheaper
            return text(i.lang, "sv_same", tasks=spec.tasks, cost=money(way.monthly, i.currency, i.lang),
                        n=way.instances)
        low = min(priced, key=lambda m: priced[m].total)  # type: ignore[arg-type, return-value]
        high = max(priced, key=lambda m: priced[m].total)  # type: ignore[arg-type, return-value]
        return text(i.lang, "sv_decision", tasks=spec.tasks, months=spec.horizon_months, low=i.name_of(low),
                    low_total=money(priced[low].total, i.currency, i.lang),
                    way=text(i.lang, f"sv_{priced[low].cheaper.name}"), high=i.name_of(high),
                    high_total=money(priced[high].total, i.currency, i.lang))
    merging = [r for r in rows if r.serving and r.serving.merge == "exact"]
    return text(i.lang, "sv_no_spec", methods=", ".join(i.name_of(r) for r in merging) or "-")


def _spec(i: Inputs) -> ServingSpec | None:
    return getattr(i.recipe.business, "serving", None) if i.recipe and i.recipe.business else None


def totals(i: Inputs, rows: list[MethodRow]) -> tuple[ServingSpec, dict[str, float | None]] | None:
    """The recipe's serving block and each row's total cost of ownership (the summary's trade line); None
    where the recipe prices no serving or a row measured none."""
    spec = _spec(i)
    if spec is None or not rows or any(r.serving is None for r in rows):
        return None
    return spec, {m: c.total for m, c in _costs(i, spec, rows).items()}


def serving(i: Inputs) -> dict[str, Any] | None:
    """The section, or None where no run measured serving (records from before issue 43)."""
    rows = [r for r in i.methods if r.serving is not None]
    if not rows:
        return None
    lang = i.lang
    spec = _spec(i)
    costs = _costs(i, spec, rows) if spec is not None else {}
    headers = [text(lang, k) for k in ("c_method", "sv_c_merge", "sv_c_latency", "sv_c_throughput", "sv_c_memory",
                                       "sv_c_disk", "sv_c_lora")]
    if spec is not None:
        headers += [text(lang, "sv_c_merged_cost", n=spec.tasks), text(lang, "sv_c_adapter_cost", n=spec.tasks),
                    text(lang, "sv_c_total", months=spec.horizon_months)]
    table = []
    for r in rows:
        s: ServingSummary = r.serving  # type: ignore[assignment]
        row = [i.name_of(r), _merge(lang, s), _pair(s.latency_merged_ms, s.latency_unmerged_ms, 1),
               _pair(s.throughput_merged_per_s, s.throughput_unmerged_per_s, 0),
               f"{_size(s.weights_mib)} / {_size(s.adapter_mib)}", _disk(lang, s), _lora(i, s)]
        if spec is not None:
            c = costs[r.method]
            row += [_way(i, c.merged), _way(i, c.adapters) if c.adapters else "-",
                    money(c.total, i.currency, lang)]
        table.append(row)
    device = rows[0].serving.device  # type: ignore[union-attr]
    notes = [text(lang, "sv_note_cpu" if device == "cpu" else "sv_note_gpu", device=device),
             text(lang, "sv_note_merge", tol=f"{rows[0].serving.merge_tolerance or 1e-4:.0e}"),  # type: ignore[union-attr]
             text(lang, "sv_note_lora")]
    merged = [r.serving.latency_merged_ms for r in rows if r.serving.latency_merged_ms]  # type: ignore[union-attr]
    if len(merged) > 1:  # merged, every method is the same network: their spread is the machine's noise
        notes.append(text(lang, "sv_note_noise", low=f"{min(merged):.1f}", high=f"{max(merged):.1f}"))
    notes += [f"{i.name_of(r)}: {reason}" for r in rows for reason in  # peft's reasons, as recorded
              (r.serving.merge_reason if r.serving.merge == "cannot merge" else None,  # type: ignore[union-attr]
               r.serving.lora_reason) if reason]  # type: ignore[union-attr]
    if spec is not None:
        notes.append(text(lang, "sv_note_cost", tasks=spec.tasks, requests=f"{spec.requests_per_month:,}",
                          gib=f"{spec.gpu_memory_gib:g}", hours=f"{spec.hours_per_month:g}",
                          share=f"{100 * spec.utilisation:.0f}", months=spec.horizon_months))
    return {"table": {"headers": headers, "rows": table, "numeric_from": 2}, "notes": notes,
            "decision": _sentence(i, spec, costs, rows)}
