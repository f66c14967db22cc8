"""The report's load estimate: the recipe's newest `poc profile`, as a table, two charts and the
sentences it supports (the largest batch that fits, what sparse bases change).

Every figure is the stored profile's; a profile made at another model, precision or length than
the runs says so. One profile has no repeats, so the text states medians, never a ranking.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from poc_cli.numbers import mib
from poc_cli.profile_results import Status, largest_fitting
from poc_cli.report import charts
from poc_cli.report.common import Inputs, join
from poc_cli.report.i18n import text

SETTINGS = ("model", "precision", "max_length")


def _bases(lang: str, point: dict[str, Any]) -> str:
    if point["bases"] is None:
        return "-"
    name = text(lang, "bases_" + point["bases"])
    return name if point["in_recipe"] else text(lang, "bases_variant", bases=name)


def _name(i: Inputs, point: dict[str, Any]) -> str:
    """The method's display name, with the basis variant where it is one."""
    name = i.name_of(point["label"])
    return name if point["bases"] is None or point["in_recipe"] else f"{name} ({text(i.lang, 'bases_' + point['bases'])})"


def _status(lang: str, status: str) -> str:
    return text(lang, "st_" + status)


def _scope(lang: str, profile: dict[str, Any]) -> str:
    if profile.get("memory_kind") == "gpu":
        return text(lang, "scope_gpu", context=mib(profile.get("context_mib") or 0.0))
    return text(lang, "scope_host")


def _table(i: Inputs, profile: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for p in profile["points"]:
        ok = p["status"] == Status.OK
        rows.append([i.name_of(p["label"]), _bases(i.lang, p), str(p["batch_size"]),
                     f"{p['step_s']:.3g} s" if ok else "-", f"{p['examples_per_s']:,.1f}" if ok else "-",
                     f"{p['tokens_per_s']:,.0f}" if ok else "-", mib(p["peak_memory_mib"]) if ok else "-",
                     _status(i.lang, p["status"])])
    headers = [text(i.lang, key) for key in ("c_method", "c_bases", "c_batch", "c_step", "c_examples_s", "c_tokens_s",
                                             "c_peak_mib", "c_status")]
    return {"headers": headers, "rows": rows, "numeric_from": 2}


def _differs(i: Inputs, profile: dict[str, Any]) -> list[str]:
    """A sentence per setting in which the profile and the runs differ."""
    runs = {"model": set(), "precision": set(), "max_length": set()}
    for record in i.records:
        recipe = record.job.recipe
        runs["model"].add(recipe.model)
        runs["precision"].add(recipe.training.precision)
        runs["max_length"].add(recipe.training.max_length)
    out = []
    for what in SETTINGS:
        found = {v for v in runs[what] if v is not None}
        if found and found != {profile.get(what)}:
            out.append(text(i.lang, "load_differs", what=text(i.lang, "what_" + what), profile=profile.get(what),
                            runs=join(i.lang, sorted(str(v) for v in found))))
    return out


def _limit(i: Inputs, profile: dict[str, Any]) -> float | None:
    """The memory a job may use: the recipe's report.memory_limit_mib as the runs have it (it may
    have changed since the profile), else the profile's."""
    if i.recipe is not None and i.recipe.report.memory_limit_mib is not None:
        return i.recipe.report.memory_limit_mib
    return profile.get("memory_limit_mib")


def _fits(i: Inputs, profile: dict[str, Any]) -> str:
    limit = _limit(i, profile)
    capacity = profile.get("capacity_mib")
    where = (text(i.lang, "load_limit_set", mib=mib(limit)) if limit is not None
             else text(i.lang, "load_limit_device", mib=mib(capacity)))
    fitting = largest_fitting(profile, limit)
    first = {(p["label"], p["bases"]): p for p in profile["points"]}
    items = [f"{_name(i, first[key])} {batch if batch is not None else text(i.lang, 'load_fit_none')}"
             for key, batch in fitting.items()]
    return text(i.lang, "load_fit", limit=where, items=join(i.lang, items))


def _bases_note(i: Inputs, profile: dict[str, Any]) -> list[str]:
    """Per RandLoRA method profiled with its variants: their step time against dense bases, at the
    largest batch all of them ran."""
    out = []
    ok = [p for p in profile["points"] if p["status"] == Status.OK and p["bases"] is not None]
    for label in dict.fromkeys(p["label"] for p in ok):
        mine = [p for p in ok if p["label"] == label]
        by_bases: dict[str, dict[int, dict[str, Any]]] = {}
        for p in mine:
            by_bases.setdefault(p["bases"], {})[p["batch_size"]] = p
        common = set.intersection(*(set(v) for v in by_bases.values())) if by_bases else set()
        if "dense" not in by_bases or len(by_bases) < 2 or not common:
            continue
        batch = max(common)
        dense = by_bases["dense"][batch]["step_s"]
        items = [f"{text(i.lang, 'bases_' + b)} {by_bases[b][batch]['step_s'] / dense:.2f}x"
                 for b in by_bases if b != "dense"]
        out.append(text(i.lang, "load_bases", name=i.name_of(label), batch=batch, items=join(i.lang, items)))
    return out


def _series(i: Inputs, profile: dict[str, Any], field: str) -> list[charts.BatchSeries]:
    keys = list(dict.fromkeys((p["label"], p["bases"]) for p in profile["points"]))
    out = []
    for key in keys:
        mine = [p for p in profile["points"] if (p["label"], p["bases"]) == key]
        out.append(charts.BatchSeries(
            _name(i, mine[0]), mine[0]["method"],
            [(p["batch_size"], p[field] if p["status"] == Status.OK else None) for p in mine],
            tuple(p["batch_size"] for p in mine if p["status"] == Status.OOM)))
    return out


def _charts(i: Inputs, profile: dict[str, Any]) -> list[tuple[str, Markup]]:
    lang = i.lang
    limit = _limit(i, profile)
    line = charts.Reference(text(lang, "limit_line", mib=mib(limit)), float(limit)) if limit is not None else None
    drawn = []
    title = text(lang, "ch_throughput")
    drawn.append((title, charts.by_batch(_series(i, profile, "examples_per_s"), title=title,
                                         x_label=text(lang, "ax_batch"), y_label=text(lang, "ax_examples_s"))))
    title = text(lang, "ch_load_memory")
    drawn.append((title, charts.by_batch(_series(i, profile, "peak_memory_mib"), title=title,
                                         x_label=text(lang, "ax_batch"), y_label=text(lang, "ax_peak_mib"),
                                         limit=line)))
    # The SVG comes from matplotlib, which escapes every text it writes (user names included).
    return [(caption, Markup(svg)) for caption, svg in drawn if svg]


def load(i: Inputs, profile: dict[str, Any] | None) -> dict[str, Any] | None:
    """The section's load estimate, or None when the recipe was never profiled."""
    if profile is None or not profile.get("points"):
        return None
    lang = i.lang
    notes = [text(lang, "load_intro", device=profile["device"], precision=profile["precision"],
                  date=profile["created_at"].replace("T", " ").replace("Z", " UTC"), steps=profile["steps"],
                  warmup=profile["warmup_steps"], max_length=profile["max_length"], scope=_scope(lang, profile))]
    if not str(profile["device"]).startswith("cuda"):
        notes.append(text(lang, "load_cpu"))
    notes += [_fits(i, profile), *_bases_note(i, profile), *_differs(i, profile)]
    return {"table": _table(i, profile), "notes": notes, "charts": _charts(i, profile)}
