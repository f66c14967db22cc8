"""The report's tables, each about one question: quality (is it better, and how sure are we?),
resources (what does it take?), GPU sizing (what hardware?), and the search's trials.

Cells hold text already formatted; numbers keep their units beside them with a no-break
space, and the templates never break a number across lines.
"""

from __future__ import annotations

from typing import Any

from poc_cli.compare import TRIVIAL_KIND, MethodRow
from poc_cli.formatting import config_text
from poc_cli.methods import get_method
from poc_cli.numbers import NBSP, duration, level, mib, money, p_text
from poc_cli.planners import is_classical
from poc_cli.report.common import Inputs, join, metric_name, statuses, title_metric
from poc_cli.report.i18n import TEXT, text
from poc_cli.search import PRUNED
from poc_cli.stats import CONFIDENCE
from poc_cli.records.sections import GpuDevice
from poc_cli.records.status import Status

GPU_SIZES_GB = (16, 24, 40, 80)
GPU_HEADROOM = 0.95  # a job fits a GPU when its peak stays below this share of the GPU's memory
HIDDEN_SETTINGS = frozenset({"implementation"})  # an internal switch, not a setting a manager compares
STATUSES = {s.value for s in Status}


def _settings(i: Inputs, row: MethodRow) -> str:
    if row.method_kind == TRIVIAL_KIND:
        return text(i.lang, f"trivial_config_{row.method}")
    if is_classical(row.method_kind):
        said = text(i.lang, "classical_config", model=str(row.settings.get("model", row.method)))
        if row.series_short:
            said += text(i.lang, "classical_short", n=row.series_short)
        if row.series_fell_back:
            said += text(i.lang, "classical_fell_back", n=row.series_fell_back)
        return said
    if not get_method(row.method_kind).TRAINS:
        return ""  # how it was chosen says it all: the pretrained model, not trained
    settings = {k: v for k, v in row.settings.items() if k not in HIDDEN_SETTINGS}
    return config_text(row.method_kind, settings, row.lr, all_parameters=text(i.lang, "all_parameters"),
                       nothing_trained=text(i.lang, "nothing_trained"))


def _chosen(i: Inputs, row: MethodRow) -> str:
    if is_classical(row.method_kind):
        return ""  # its configuration says what it is
    selection = row.selection
    if selection.searched:
        runs = selection.runs_validation
        edge = selection.edge
        beyond = text(i.lang, "chosen_beyond", n=edge.added) if edge is not None and edge.added else ""
        return text(i.lang, "chosen_search", n=selection.trial_count, metric=metric_name(i.lang, selection.metric or ""),
                    score=f"{100 * (selection.score or 0):.1f}", beyond=beyond,
                    runs="" if runs is None else text(i.lang, "chosen_runs", runs=f"{100 * runs:.1f}"))
    how = selection.how
    return text(i.lang, "chosen_" + how) if how and f"chosen_{how}" in TEXT[i.lang] else "-"


def score_cell(i: Inputs, row: MethodRow) -> str:
    if row.score is None:
        return "-"
    scale, digits = (100.0, 1) if i.percent else (1.0, 3)
    value = f"{scale * row.score.mean:.{digits}f}"
    interval = row.interval
    if interval is None:
        return value
    return f"{value} [{scale * interval[0]:.{digits}f},{NBSP}{scale * interval[1]:.{digits}f}]"


def _other_cell(row: MethodRow, metric: str) -> str:
    summary = row.scores.get(metric)
    if summary is None:
        return "-"
    percent = row.units.get(metric, "fraction") == "fraction"
    scale, digits = (100.0, 1) if percent else (1.0, 3)
    spread = f"{NBSP}±{NBSP}{scale * summary.std:.{digits}f}" if summary.std is not None else ""
    return f"{scale * summary.mean:.{digits}f}{spread}"


def diff_cell(i: Inputs, row: MethodRow) -> str:
    """The difference with its interval (its level where Holm asked for more than 95%); where it is not
    significant, the smallest difference this comparison could have detected."""
    d = row.difference
    if d is None:
        return text(i.lang, "reference") if row.method == row.baseline else "-"
    scale, digits = (100.0, 1) if i.percent else (1.0, 3)
    cell = f"{scale * d.mean:+.{digits}f} [{scale * d.low:+.{digits}f},{NBSP}{scale * d.high:+.{digits}f}]"
    if d.confidence != CONFIDENCE:
        cell += f" ({level(d.confidence)}%)"
    if d.significant:
        return cell
    could = "" if d.detectable is None else (
        ("（" if i.lang == "ja" else " (")
        + text(i.lang, "could_detect", value=f"{scale * d.detectable:.{digits}f}") + ("）" if i.lang == "ja" else ")"))
    return f"{cell} {text(i.lang, 'not_significant')}{could}"


def _p(p: float | None) -> str:
    return "-" if p is None else p_text(p)


def words(i: Inputs, row: MethodRow) -> str:
    """A difference as counts of test examples ("5 more correct out of 300"), where the metric is a share
    of right answers."""
    d = row.difference
    declared_binary = i.percent and row.n_test
    if d is None or not declared_binary:
        return "-"
    if d.net_examples is not None:
        count, key = d.net_examples, "words"
    elif d.method.startswith("paired t"):
        count, key = round(d.mean * row.n_test), "words_seeds"
    else:
        return "-"
    if count == 0:
        return text(i.lang, "words_same")
    return text(i.lang, key, count=abs(count), direction=text(i.lang, "more" if count > 0 else "fewer"),
                n=f"{row.n_test:,}")


def _learned(i: Inputs, row: MethodRow) -> str:
    check = row.learning
    if check is None or check.learned is None:
        return "-"
    if check.learned:
        return text(i.lang, "learned_yes")
    if check.reason == "one_answer":
        return text(i.lang, "learned_one", share=f"{100 * (check.top_share or 0):.0f}")
    return text(i.lang, "learned_no_gain", reference=i.name_of(check.reference or "-"))


def _planners(i: Inputs, row: MethodRow) -> str:
    """A trained method against the best classical forecast: the difference, its interval, the verdict."""
    check = row.planners
    if check is None:
        return "-"
    verdict = text(i.lang, "planners_better" if check.better else "planners_not_better", best=i.name_of(check.best))
    d = check.difference
    if d is None:
        return verdict
    scale, digits = (100.0, 1) if i.percent else (1.0, 3)
    return f"{scale * d.mean:+.{digits}f} [{scale * d.low:+.{digits}f},{NBSP}{scale * d.high:+.{digits}f}] {verdict}"


def _unit(unit: str) -> str:
    return " %" if unit == "fraction" else f" ({unit})" if unit else ""


def quality(i: Inputs) -> dict[str, Any]:
    lang = i.lang
    declared = next((r.scores for r in i.measured if r.scores), i.first.scores)  # a failed first row has none
    others = [m for m in declared if m != i.metric]
    baseline = i.name_of(i.baseline)
    headers = [text(lang, "c_method"), text(lang, "c_config"),
               text(lang, "c_score", metric=title_metric(lang, i.metric)) if i.percent
               else f"{title_metric(lang, i.metric)}{_unit(i.first.units.get(i.metric, ''))} [95%]"]
    headers += [text(lang, "c_other", metric=title_metric(lang, m)) + _unit(i.first.units.get(m, "")) for m in others]
    adjusted = max((r.difference.adjusted_for for r in i.rows if r.difference is not None), default=1)
    headers += [text(lang, "c_diff" if i.percent else "c_diff_value", baseline=baseline),
                text(lang, "c_p_holm", m=adjusted) if adjusted > 1 else text(lang, "c_p"), text(lang, "c_words"),
                text(lang, "c_learned")]
    planners = any(r.planners is not None for r in i.rows)
    headers += [text(lang, "c_planners")] if planners else []
    sep = "；" if lang == "ja" else "; "
    rows = [[i.name_of(r), sep.join(part for part in (_settings(i, r), _chosen(i, r)) if part and part != "-"), score_cell(i, r),
             *[_other_cell(r, m) for m in others], diff_cell(i, r),
             _p(r.difference.p_value if r.difference else None), words(i, r), _learned(i, r),
             *([_planners(i, r)] if planners else [])] for r in i.rows]
    several = any(r.score and r.score.n > 1 for r in i.methods)
    return {"headers": headers, "rows": rows, "numeric_from": 2,
            "note": text(lang, "quality_note", how=text(lang, "how_seeds" if several else "how_examples"),
                         baseline=baseline)}


def _params(i: Inputs, row: MethodRow) -> str:
    if row.trainable_parameters is None:
        return "-"
    share = f"{row.percent_of_full:.2f}%" if row.percent_of_full is not None else "-"
    method = get_method(row.method_kind)
    if not method.TRAINS:
        return text(i.lang, "params_none")
    if not method.FITTED:
        return text(i.lang, "params_all", total=f"{row.trainable_parameters:,}", share=share)
    return text(i.lang, "params_cell", adapter=f"{row.adapter_parameters or 0:,}", head=f"{row.head_parameters or 0:,}",
                total=f"{row.trainable_parameters:,}", share=share)


def loaded_mark(row: MethodRow, cell: str) -> str:
    """A time or cost measured under load, marked ‡."""
    return f"{cell}{NBSP}‡" if row.loaded and cell != "-" else cell


def time_note(i: Inputs) -> list[str]:
    """Which time is which (steady training time, wall-time cost), where the records kept the warm-up apart."""
    warmups = [r.warmup_s for r in i.methods if r.steady_s is not None and r.warmup_s is not None]
    steps = {r.throughput.warmup_steps_excluded for r in i.records if r.timing.warmup_s is not None}
    if not warmups or len(steps) != 1:
        return []
    return [text(i.lang, "time_note", steps=steps.pop(), warmup=duration(sum(warmups) / len(warmups), i.lang))]


def gpus_per_job(i: Inputs, method: str) -> int:
    """The GPUs (processes on a CPU) a method's jobs spanned: 1 but for a job across GPUs (FSDP2)."""
    return max((run.distributed.world_size for run in i.ok_runs.get(method, {}).values() if run.distributed),
               default=1)


def _gpus_column(i: Inputs) -> str | None:
    """The resources table's GPUs-per-job header, where a job spanned several (processes where none had a GPU)."""
    if all(gpus_per_job(i, r.method) == 1 for r in i.methods):
        return None
    on_gpu = any(str(run.runtime.device if run.runtime else "").startswith("cuda") for run in i.records)
    return text(i.lang, "c_gpus" if on_gpu else "c_procs")


def resources(i: Inputs) -> dict[str, Any]:
    lang, gpus = i.lang, _gpus_column(i)
    headers = [text(lang, k) for k in ("c_method", "c_params", "c_memory", "c_time", "c_throughput", "c_energy",
                                       "c_cost", "c_adapter", "c_runs")]
    headers[3:3] = [gpus] if gpus else []
    rows = []
    for r in i.methods:
        label = text(lang, "mem_gpu" if r.memory_label.startswith("GPU") else "mem_host")
        rows.append([
            i.name_of(r), _params(i, r),
            (f"{mib(r.peak_memory_mib)}（{label}）" if lang == "ja" else f"{mib(r.peak_memory_mib)} ({label})")
            if r.peak_memory_mib else "-", *([str(gpus_per_job(i, r.method))] if gpus else []),
            text(lang, "fit_time", time=duration(r.fit_s, lang)) if r.fit_s is not None
            else loaded_mark(r, duration(r.compared_s.mean if r.compared_s else None, lang)),
            f"{r.examples_per_s:.1f}" if r.examples_per_s else "-",
            f"{r.energy_j:,.0f}{NBSP}J" if r.energy_j is not None else text(lang, "not_measured"),
            loaded_mark(r, money(r.cost_per_run, i.currency, lang)),
            f"{r.adapter_bytes / 2**20:,.2f}" if r.adapter_bytes else "-", statuses(r.statuses, lang)])
    total = next((r.total_parameters for r in i.methods if r.total_parameters), 0)
    notes = [text(lang, "resources_note", total=f"{total:,}"), *time_note(i), *([text(lang, "gpus_note")] if gpus else [])]
    if i.loaded:
        notes.append(text(lang, "loaded_note", cores=f"{max(r.other_cores or 0 for r in i.loaded):.1f}"))
    return {"headers": headers, "rows": rows, "numeric_from": 1, "notes": notes}


def sizing(i: Inputs) -> dict[str, Any]:
    """Which common GPU sizes each method fits (GPU runs), or why there is no such table (CPU runs)."""
    lang = i.lang
    measured = [r for r in i.trained if r.gpu_need_mib is not None]
    if not measured:
        return {"note": text(lang, "memory_cpu"), "rows": []}
    rows, gpus = [], _gpus_column(i)  # a job across GPUs: its fullest GPU's peak, which each of its GPUs must fit
    for r in measured:
        reserved = max((run.memory.torch_peak_reserved_mib or 0 for run in i.ok_runs[r.method].values()), default=0)
        fits = [text(lang, "yes" if r.gpu_need_mib <= GPU_HEADROOM * size * 1024 else "no") for size in GPU_SIZES_GB]
        rows.append([i.name_of(r), *([str(gpus_per_job(i, r.method))] if gpus else []), mib(r.gpu_need_mib),
                     mib(reserved) if reserved else "-", *fits])
    device = i.any_run.gpu.device or GpuDevice()
    gpu = f"{device.name or 'GPU'} ({device.total_mib or 0:,.0f} MiB)"
    return {"headers": [text(lang, "c_method"), *([gpus] if gpus else []), text(lang, "c_gpu_peak"),
                        text(lang, "c_reserved"), *[text(lang, "c_fits", size=s) for s in GPU_SIZES_GB]],
            "rows": rows, "numeric_from": 1, "note": text(lang, "sizing_note", gpu=gpu)}


def trials(i: Inputs) -> dict[str, Any] | None:
    """Every search trial's setting and validation score (the chart's numbers, for the text report)."""
    lang, rows, metric = i.lang, [], i.metric
    for r in i.measured:
        selection = i.searched.get(r.method)
        if selection is None:
            continue
        metric, chosen = selection.metric, selection.chosen
        for t in sorted(selection.trials, key=lambda t: (t.alpha_ratio or 0, t.lr)):
            picked = t.lr == chosen.lr and t.alpha_ratio == chosen.alpha_ratio
            score = "-" if t.score is None else f"{100 * t.score:.1f}"
            status = text(lang, "st_" + t.status) if t.status in STATUSES else t.status
            if t.status == PRUNED:  # a halving search stopped it at a rung: its score there, at that length
                last = t.rungs[-1]
                status = text(lang, "st_pruned", steps=last.steps, total=selection.rungs[-1])
                score = "-" if last.score is None else text(lang, "rung_score", score=f"{100 * last.score:.1f}",
                                                            steps=last.steps)
            marks = [text(lang, "chosen_mark")] * picked + [text(lang, "added_mark")] * t.added
            rows.append([i.name_of(r), "-" if t.alpha_ratio is None else f"{t.alpha_ratio:g}", f"{t.lr:g}",
                         status, score, join(lang, marks)])
    if not rows:
        return None
    return {"headers": [text(lang, "c_method"), "alpha_ratio", text(lang, "c_lr"), text(lang, "c_status"),
                        text(lang, "c_val_score", metric=metric_name(lang, metric)), ""], "rows": rows,
            "numeric_from": 1}
