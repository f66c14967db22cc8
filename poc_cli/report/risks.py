"""What could make the section's numbers mislead, each with what to do about it."""

from __future__ import annotations

from poc_cli.compare import MethodRow
from poc_cli.records.sections import SearchSelection
from poc_cli.report.common import Inputs, join, length_text
from poc_cli.report.i18n import text
from poc_cli.report.summary import reason
from poc_cli.search import GOOD_WITHIN, sensitivity


def _not_held(i: Inputs, row: MethodRow, selection: SearchSelection) -> list[str]:
    """A risk when the seeded runs score far below the winning trial on the same validation split
    (compare's selection summary has already measured it)."""
    summary = row.selection
    if summary.held:
        return []
    trial_length = selection.trial_length
    run_length = next(iter(i.ok_runs[row.method].values())).job.recipe.training
    why = ""
    if (trial_length.epochs, trial_length.steps) != (run_length.epochs, run_length.steps):
        why = text(i.lang, "why_shorter", trial_len=length_text(i.lang, trial_length),
                   run_len=length_text(i.lang, run_length))
    runs, trial = summary.runs_validation or 0.0, summary.score or 0.0  # a search that did not hold has both
    return [text(i.lang, "risk_not_held", method=i.name_of(row), runs=f"{100 * runs:.1f}",
                 drop=f"{100 * (trial - runs):.1f}", trial=f"{100 * trial:.1f}", why=why)]


def _search_risks(i: Inputs) -> list[str]:
    """What the search says about each method: narrow good region, best at the grid's edge, divergence,
    or no tuning at all (the learning rate can decide the ranking at PoC sizes)."""
    lang, risks = i.lang, []
    untuned = [i.name_of(r) for r in i.trained if r.method not in i.searched]
    if untuned:
        risks.append(text(lang, "risk_not_tuned", methods=join(lang, untuned)))
    for r in i.measured:
        selection = i.searched.get(r.method)
        found = sensitivity(selection)
        if selection is None or found is None:
            continue
        risks += _not_held(i, r, selection)
        lr = f"{selection.chosen.lr:g}"
        if found.narrow:
            curve = found.curves[selection.chosen.alpha_ratio]
            k = [x for x, _ in curve].index(selection.chosen.lr)
            neighbours = ", ".join(f"{x:g}: " + ("-" if y is None else f"{100 * y:.1f}%")
                                   for x, y in (curve[j] for j in (k - 1, k + 1) if 0 <= j < len(curve)))
            risks.append(text(lang, "risk_narrow", method=i.name_of(r), lr=lr, best=f"{100 * selection.score:.1f}",
                              neighbours=neighbours, within=f"{100 * GOOD_WITHIN:g}"))
        if found.at_edge:
            edge = selection.edge
            risks.append(text(lang, "risk_edge_limit", method=i.name_of(r), lr=lr, n=edge.added) if edge and edge.added
                         else text(lang, "risk_edge", method=i.name_of(r), lr=lr))
        if found.diverged:
            risks.append(text(lang, "risk_diverged", method=i.name_of(r), n=found.diverged,
                              total=len(selection.trials)))
    return risks


def risks(i: Inputs) -> list[str]:
    lang, seed = i.lang, text(i.lang, "seed")
    out = [text(lang, "risk_dnl", reason=reason(i, r, r.learning))
           for r in i.trained if r.learning is not None and r.learning.learned is False]
    failed = [f"{i.name_of(r.method)} {seed} {r.seed} ({text(lang, 'st_' + r.status.value)})"
              for r in i.records if not r.ok]
    if failed:
        out.append(text(lang, "risk_failed", n=len(failed), which=join(lang, failed)))
    if i.loaded:
        out.append(text(lang, "risk_loaded", methods=join(lang, [i.name_of(r) for r in i.loaded]),
                        cores=f"{max(r.other_cores or 0 for r in i.loaded):.1f}"))
    if any(r.score.n == 1 for r in i.trained):
        out.append(text(lang, "risk_one_seed"))
    if any(r.memory_label.startswith("host") for r in i.trained):
        out.append(text(lang, "risk_no_gpu"))
    out += _search_risks(i)
    for r in i.records:
        for warning in r.warnings:
            out.append(text(lang, "risk_warning", method=f"{i.name_of(r.method)} {seed} {r.seed}",
                            warning=warning))
    return out or [text(lang, "risk_none")]
