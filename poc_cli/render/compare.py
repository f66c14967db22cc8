"""`poc compare` as Rich tables: a default one that fits 100 columns without cutting a number, and
`--wide` with every figure. Cells are `Text`, so a name like `[red]` or `[/]` prints as written."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from poc_cli.compare import TRIVIAL_KIND, Chosen, MethodRow
from poc_cli.formatting import config_text, metric_header, metric_text, summary_text
from poc_cli.learning import LearningCheck
from poc_cli.methods import get_method
from poc_cli.numbers import duration, level, mib, money, p_text
from poc_cli.safe_text import plain
from poc_cli.serving_summary import ServingSummary
from poc_cli.stats import CONFIDENCE

HIDDEN_SETTINGS = frozenset({"implementation"})


def learned_text(check: LearningCheck | None) -> str:
    if check is None or check.learned is None:
        return "-"
    if check.learned:
        return "yes"
    if check.reason == "one_answer":
        return f"NO: one answer for {100 * (check.top_share or 0):.0f}%"
    return f"NO: not better than {check.reference}"


def _scale(row: MethodRow) -> tuple[float, int]:
    return (100.0, 1) if row.units.get(row.metric, "fraction") == "fraction" else (1.0, 3)


def _score(row: MethodRow, sep: str) -> str:
    if row.score is None:
        return "-"
    scale, digits = _scale(row)
    value = f"{scale * row.score.mean:.{digits}f}"
    interval = row.interval
    comma = "," if sep == "\n" else ", "
    return value if interval is None else \
        f"{value}{sep}[{scale * interval[0]:.{digits}f}{comma}{scale * interval[1]:.{digits}f}]"


def difference_text(row: MethodRow) -> str:
    """The difference in one line: value, interval (its level where above 95%), p and n.s."""
    d = row.difference
    if d is None:
        return "reference" if row.method == row.baseline else "-"
    scale, digits = _scale(row)
    at = f" {level(d.confidence)}%" if d.confidence != CONFIDENCE else ""
    holm = " Holm" if d.adjusted_for > 1 else ""
    p = f", p{holm}={p_text(d.p_value)}" if d.p_value is not None else ""
    return (f"{scale * d.mean:+.{digits}f} [{scale * d.low:+.{digits}f}, {scale * d.high:+.{digits}f}]{at}{p}"
            f"{'' if d.significant else ' not significant'}")


def detectable_text(row: MethodRow) -> str:
    """What the comparison could have seen: the smallest difference it detects at 80% power, and what
    detecting 2 points would take (shares only)."""
    d = row.difference
    if d is None or d.detectable is None:
        return "-"
    scale, digits = _scale(row)
    text = f"{scale * d.detectable:.{digits}f}"
    if row.units.get(row.metric, "fraction") == "fraction":
        unit = "ex." if d.counts == "examples" else "seeds"
        text += f", 2 pts: {d.needed:,} {unit}" if d.needed is not None else ", 2 pts: not practical"
    return text


# Each task's trivial answer (`Task.trivial`): its setting, the same in a few characters, its footnote.
TRIVIAL_TEXT = {
    "majority-class": ("majority class of test", "majority class",
                       "majority-class: always the test split's most frequent class, what learning nothing scores"),
    "seasonal-naive": ("the value one season earlier", "seasonal naive",
                       "seasonal-naive: every point forecast as the value one season earlier, what learning "
                       "nothing scores"),
}


def _setting(row: MethodRow) -> str:
    if row.method_kind == TRIVIAL_KIND:
        return TRIVIAL_TEXT[row.method][0]
    settings = {k: v for k, v in row.settings.items() if k not in HIDDEN_SETTINGS}
    return config_text(row.method_kind, settings, row.lr, all_parameters="all parameters",
                       nothing_trained="nothing trained")


def _memory(row: MethodRow) -> str:
    if not row.peak_memory_mib:
        return "-"
    return f"{mib(row.peak_memory_mib)} MiB {'GPU' if row.memory_label.startswith('GPU') else 'host'}"


def _loaded(row: MethodRow, cell: str) -> str:
    return f"{cell} ‡" if row.loaded and cell != "-" else cell


def _cost(row: MethodRow) -> str:
    return _loaded(row, money(row.cost_per_run, row.price.currency, "en"))


def _short_setting(row: MethodRow) -> str:
    """The setting in a few characters: the learning rate and rank (alpha and the rest are in --wide)."""
    if row.method_kind == TRIVIAL_KIND:
        return TRIVIAL_TEXT[row.method][1]
    if not get_method(row.method_kind).TRAINS:
        model = str(row.settings.get("model", ""))  # a classical row: its statsforecast model
        return model.removeprefix("statsforecast ") or "not trained"
    parts = [f"lr={row.lr:g}"] if row.lr is not None else []
    if not get_method(row.method_kind).FITTED:
        return ", ".join([*parts, "all"])
    shown = {k: v for k, v in row.settings.items() if k == "r" or (v is True and k not in HIDDEN_SETTINGS)}
    return ", ".join([*parts, *(f"r={v}" if k == "r" else k for k, v in shown.items())])


def _setting_cell(row: MethodRow) -> Text:
    """The setting, and on its second line how it was chosen (a search that did not hold up in red)."""
    cell = plain(_short_setting(row))
    selection = row.selection
    if selection.searched:
        held = selection.held
        edge = selection.edge
        added = f" (+{edge.added}{'*' if edge.reached else ''})" if edge and edge.added else ""
        cell.append(f"\nsearch ×{selection.trial_count}{added}" + ("" if held else " !"),
                    style="dim" if held else "bold red")
    elif selection.how == "default":
        cell.append("\ndefault lr", style="dim")
    return cell


def _method(row: MethodRow) -> Text:
    """The name, and on its second line whether it did not learn, else the runs that did not finish, else
    the Pareto fronts it lies on."""
    cell = plain(row.method)
    unfinished = ", ".join(f"{n} {status}" for status, n in row.statuses.items() if status != "ok")
    if row.learning is not None and row.learning.learned is False:
        cell.append("\ndid not learn", style="bold red")
    elif row.planners is not None and not row.planners.better:
        cell.append(f"\n≤ {row.planners.best}", style="bold red")
    elif unfinished:
        cell.append("\n" + unfinished, style="yellow")
    elif row.pareto:
        cell.append("\nfront: " + "+".join(FRONT_SHORT[axis] for axis in row.pareto), style="green")
    return cell


FRONT_SHORT = {"memory": "mem", "time": "time"}


def _params(row: MethodRow) -> Text:
    """Trainable parameters, and "off budget" under a method that ran beyond the budget's tolerance."""
    cell = plain(f"{row.trainable_parameters:,}" if row.trainable_parameters is not None else "-")
    if row.off_budget:
        cell.append("\noff budget", style="yellow")
    return cell


def _difference_cell(row: MethodRow) -> str:
    """The difference, n.s. and † (an interval above 95%, Holm) on one line, its interval on the next."""
    d = row.difference
    if d is None:
        return "reference" if row.method == row.baseline else "-"
    scale, digits = _scale(row)
    marks = ("" if d.significant else " n.s.") + ("†" if d.confidence != CONFIDENCE else "")
    return f"{scale * d.mean:+.{digits}f}{marks}\n[{scale * d.low:+.{digits}f},{scale * d.high:+.{digits}f}]"


def _time_and_cost(row: MethodRow) -> str:
    """Training time (steady state: what ratios compare) over the cost of a run (its wall time, which was
    paid; the currency in the heading), ‡ where timed under load; a classical row's fitting time."""
    if row.fit_s is not None:
        return f"fit {duration(row.fit_s, 'en')}\nCPU only"
    if row.compared_s is None:
        return "-"
    mark = "‡" if row.loaded else ""
    cost = money(row.cost_per_run, row.price.currency, "en").removesuffix(f" {row.price.currency}")
    return f"{duration(row.compared_s.mean, 'en')}{mark}\n{cost}{mark}"


NARROW_PARAMS_FROM = 100  # columns from which the narrow table has room for the parameter count


def narrow_table(rows: list[MethodRow], title: str, width: int = 100) -> Table:
    """Method, setting, score with interval, difference, memory, time and cost (rank and parameters too from
    100 columns), each row on at most two lines within `width` columns: no number is cut, no word broken."""
    # Columns apart by the box's blank rule alone (no padding): 80 columns hold the row.
    table = Table(title=plain(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    first = next((r for r in rows if r.method_kind != TRIVIAL_KIND), rows[0])
    with_params = width >= NARROW_PARAMS_FROM  # the rank and the parameter counts, from 100 columns
    longest = max((len(line) for r in rows for line in _method(r).plain.splitlines()), default=8)
    if with_params:
        table.add_column("#", justify="right", no_wrap=True)
    table.add_column("method", min_width=min(longest, 16), max_width=16, overflow="ellipsis")
    table.add_column("setting", no_wrap=True, overflow="ellipsis", max_width=18)
    headers = [*(["params"] if with_params else []),
               metric_header(first.metric, first.units.get(first.metric, "fraction")) + "\n[95%]",
               f"Δ vs\n{first.baseline}", "peak\nMiB", f"train\ncost {first.price.currency}"]
    for name in headers:
        table.add_column(plain(name), justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            *([str(row.rank) if row.rank is not None else ""] if with_params else []), _method(row), _setting_cell(row),
            *([_params(row)] if with_params else []),
            _score(row, "\n"), _difference_cell(row),
            f"{mib(row.peak_memory_mib)}\n{'GPU' if row.memory_label.startswith('GPU') else 'host'}"
            if row.peak_memory_mib else "-",
            _time_and_cost(row))
    return table


def wide_table(rows: list[MethodRow], title: str) -> Table:
    """Every figure compare has, one line per method."""
    first = next((r for r in rows if r.method_kind != TRIVIAL_KIND), rows[0])
    metrics = list(first.scores) or [first.metric]
    units = first.units
    table = Table(title=plain(title), title_justify="left")
    for column in ("#", "method", "configuration", "chosen by", "trainable", f"{first.metric} [95%]",
                   *[metric_header(m, units.get(m, "fraction")) for m in metrics], f"Δ {first.metric} [95% CI]",
                   "MDE", "learned", "vs planners", "peak memory", "train time", "warm-up", "examples/s", "energy",
                   "cost/run",
                   "adapter",
                   "serving",
                   "Pareto front", "runs", "job ids"):
        # How the setting was chosen reads as a phrase; the power figures may wrap instead.
        widths = {"chosen by": {"min_width": 26}, "MDE": {"max_width": 16}}.get(column, {})
        table.add_column(plain(column), overflow="fold", **widths)
    for row in rows:
        trains = row.method_kind != TRIVIAL_KIND and get_method(row.method_kind).TRAINS
        table.add_row(
            str(row.rank) if row.rank is not None else "", plain(row.method), plain(_setting(row)),
            plain(chosen_text(row.selection)),
            (f"{row.trainable_parameters:,} ({row.percent_of_full:.2f}%)" + (" off budget" if row.off_budget else ""))
            if row.trainable_parameters is not None else "-",
            _score(row, " "),
            *[metric_text(row.scores.get(m), units.get(m, "fraction")) for m in metrics], difference_text(row),
            detectable_text(row), learned_text(row.learning) if trains else "-", planners_text(row), _memory(row),
            _loaded(row, summary_text(row.compared_s, scale=1.0, digits=1).replace(" (n=", " s (n="))
            if row.compared_s else "-",
            f"{row.warmup_s:.2f} s" if row.warmup_s is not None else "-",
            f"{row.examples_per_s:.1f}" if row.examples_per_s else "-",
            f"{row.energy_j:,.0f} J" if row.energy_j is not None else "n/a (no GPU)",
            _cost(row),
            f"{row.adapter_bytes / 2**20:.2f} MiB" if row.adapter_bytes else "-",
            serving_cell(row.serving),
            ", ".join(row.pareto) or "-",
            ", ".join(f"{n} {status}" for status, n in row.statuses.items()) or "-",
            ", ".join(row.job_ids.values()) or "-",
        )
    return table


def serving_cell(serving: ServingSummary | None) -> str:
    """Whether the adapter merges exactly, batch-1 latency merged / unmerged, and the adapter served as LoRA
    (its rank and the score it moved by), one per line; a dash where the runs measured no serving."""
    if serving is None:
        return "-"
    merge = serving.merge + (f" ({serving.merge_difference:.0e})" if serving.merge == "inexact" else "")
    latency = " / ".join(f"{v:.1f}" if v is not None else "-"
                         for v in (serving.latency_merged_ms, serving.latency_unmerged_ms))
    lora = {"converted": f"r={serving.lora_rank}, Δ {serving.lora_difference:+.3g}"
            if serving.lora_difference is not None else f"r={serving.lora_rank}",
            "is LoRA": "is LoRA", "not measured": "not measured"}.get(serving.lora or "", "no" if serving.lora else "-")
    return f"{merge}\nb=1: {latency} ms {serving.device}\nLoRA: {lora}"


def planners_text(row: MethodRow) -> str:
    """A trained method against the best classical row: the difference, its interval, and the verdict."""
    check = row.planners
    if check is None:
        return "-"
    d = check.difference
    verdict = "better" if check.better else "not better"
    if d is None:
        return f"{verdict} than {check.best}"
    scale, digits = _scale(row)
    return (f"{scale * d.mean:+.{digits}f} [{scale * d.low:+.{digits}f},{scale * d.high:+.{digits}f}] vs "
            f"{check.best}: {verdict}")


def chosen_text(selection: Chosen) -> str:
    if selection.searched:
        runs = selection.runs_validation
        after = f"; seeded runs {100 * runs:.1f}%" if isinstance(runs, float) else ""
        warn = ", did not hold up" if not selection.held else ""
        return f"search: best of {selection.trial_count} trials{beyond_text(selection)} (validation " \
               f"{selection.metric} {100 * float(selection.score or 0):.1f}%{after}{warn})"
    how = selection.how
    return "computed" if how == TRIVIAL_KIND else str(how or "-")


def beyond_text(selection: Chosen) -> str:
    """The trials a search added beyond its grid's ends, and whether it stopped at its limit."""
    edge = selection.edge
    if edge is None or not edge.added:
        return ""
    return f", {edge.added} added beyond the grid" + (f" (limit {edge.limit} reached)" if edge.reached else "")


def footnotes(rows: list[MethodRow]) -> list[str]:
    """What the marks in the tables mean, and where the prices came from."""
    notes = []
    for name in dict.fromkeys(r.method for r in rows if r.method_kind == TRIVIAL_KIND):
        notes.append(TRIVIAL_TEXT[name][2])
    if any(r.learning is not None and r.learning.learned is False for r in rows):
        notes.append("did not learn: one answer for >=95% of test examples, or not significantly better than the "
                     "trivial reference; never recommended")
    behind = [r for r in rows if r.planners is not None and not r.planners.better
              and not (r.learning is not None and r.learning.learned is False)]  # as the method column marks it
    if behind:
        notes.append(f"≤ {behind[0].planners.best}: not significantly better than {behind[0].planners.best}, the best "  # type: ignore[union-attr]
                     "of the classical forecasts planners run today (fitted on each series' history); never recommended")
    if any(r.selection.searched for r in rows):
        edges = [r.selection.edge for r in rows if r.selection.edge and r.selection.edge.added]
        notes.append("search ×N: the learning rate was chosen by a search of N trials on validation data"
                     + ("; (+k): k of them added beyond the grid's edge, where the best rate lay" if edges else "")
                     + ("; *: the limit (search.edge_steps) was reached with the best still at the edge"
                        if any(edge.reached for edge in edges) else "")
                     + ("; !: the chosen setting did not hold up, the seeded runs scored far below the winning trial"
                        if any(not r.selection.held for r in rows) else ""))
    compared = [r for r in rows if r.difference is not None]
    if compared:
        notes.append(f"Δ: {compared[0].difference.method} against {compared[0].baseline}, its interval and p from "  # type: ignore[union-attr]
                     "that one test")
    adjusted = next((r.difference.adjusted_for for r in compared if r.difference.adjusted_for > 1), None)  # type: ignore[union-attr]
    if adjusted:
        notes.append(f"Holm: {adjusted} methods compared with the baseline; their p-values are adjusted and each "
                     "interval is at the level Holm's step used (above 95% where shown)")
    unclear = [r for r in compared if r.method_kind != TRIVIAL_KIND and not r.difference.significant  # type: ignore[union-attr]
               and r.difference.detectable is not None]  # type: ignore[union-attr]
    if any(not r.difference.significant for r in compared):  # type: ignore[union-attr]
        could = "; ".join(f"{r.method} {detectable_text(r)}" for r in unclear)
        notes.append("n.s.: not significant, the interval of the paired difference includes 0"
                     + (f"; the smallest difference this PoC detects at 80% power (MDE), and what 2 points "
                        f"would take: {could}" if could else ""))
    if any(r.rank is not None for r in rows):
        notes.append("#: rank by mean score among the trained methods (from 100 columns)"
                     + ("; front: on the Pareto front of mean score against peak memory (mem) or training time: no "
                        "other method scores higher for less; read from the means, not a test"
                        if any(r.pareto for r in rows) else ""))
    if any(r.off_budget for r in rows):
        notes.append("off budget: the method cannot reach the budget and ran at the count it reaches, as its recipe "
                     "allows; its Δ compares unequal parameter counts")
    if any(r.loaded for r in rows):
        notes.append("‡ timed while other processes kept the machine busy: not a clean time or cost")
    if any(r.memory_label.startswith("host") for r in rows if r.peak_memory_mib):
        notes.append("host: host RAM (peak RSS), no GPU ran; it does not size a GPU")
    notes.append("cost: " + "; ".join(sorted({r.price.source for r in rows})))
    return notes
