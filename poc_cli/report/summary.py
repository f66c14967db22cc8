"""The top of a section: the executive summary (decision with its confidence, the trade, the next
step priced from the stored timings) and the conclusion's sentence.

A manager reads these first and may read nothing else, so each claim is the rule's, each
number a stored measurement, and "more seeds" always comes with a count and a time.
"""

from __future__ import annotations

from poc_cli.compare import MethodRow
from poc_cli.cost import projected_cost
from poc_cli.learning import LearningCheck, paired_difference, scored
from poc_cli.methods import METHODS, get_method
from poc_cli.numbers import NBSP, duration, level, money, p_text, points, score_text
from poc_cli.records.status import Status
from poc_cli.stats import PairedDifference
from poc_cli.report.common import Inputs, join, metric_name
from poc_cli.report.conclusion import Conclusion, decide
from poc_cli.report.i18n import text
from poc_cli.report.serving import totals
from poc_cli.search import grid

MIN_SEEDS = 3  # fewer cannot measure seed-to-seed variation
MAX_SEEDS = 20


def conclusion(i: Inputs) -> Conclusion:
    """The rules applied to this section's rows (see conclusion.py)."""
    peft = [r for r in i.measured if r.method_kind in METHODS and get_method(r.method_kind).FITTED]
    sign = 1.0 if i.first.higher_is_better else -1.0
    best = max(peft, key=lambda r: sign * r.score.mean) if peft else None
    full = i.by_kind.get("full")
    full_vs_best = None
    if best is not None and full is not None:
        full_vs_best = paired_difference(scored(i.ok_runs[full.method], i.metric),
                                         scored(i.ok_runs[best.method], i.metric))
    return decide(i.rows, full_vs_best=full_vs_best, best_peft=best.method if best else None,
                  memory_limit_mib=i.recipe.report.memory_limit_mib if i.recipe else None,
                  not_held=frozenset(r.method for r in i.rows if not r.selection.held))


def reason(i: Inputs, row: MethodRow, check: LearningCheck) -> str:
    """Why a method counts as not learned, in a clause."""
    if check.reason == "one_answer":
        return text(i.lang, "dnl_one_answer", method=i.name_of(row), share=f"{100 * (check.top_share or 0):.0f}")
    reference = next((r for r in i.rows if r.method == check.reference), None)
    return text(i.lang, "dnl_no_gain", method=i.name_of(row), metric=metric_name(i.lang, i.metric),
                score=score_text(row.score.mean, i.percent), reference=i.name_of(check.reference or "-"),
                ref=score_text(reference.score.mean if reference and reference.score else None, i.percent))


def _failed_reasons(i: Inputs, c: Conclusion) -> str:
    sep = "。" if i.lang == "ja" else "; "  # each reason is a whole clause
    rows = [r for r in i.rows if r.method in c.not_learned and r.learning is not None]
    return sep.join(reason(i, r, r.learning) for r in rows)


def _did_not_learn_text(i: Inputs, c: Conclusion) -> str:
    sentence = text(i.lang, "rule_did_not_learn", reasons=_failed_reasons(i, c))
    for row in i.trained:
        check = row.learning
        if row.method not in c.not_learned and check is not None and check.learned \
                and check.versus_reference is not None:
            sentence += (" " if i.lang == "en" else "") + text(
                i.lang, "dnl_other_learned", method=i.name_of(row), score=score_text(row.score.mean, i.percent),
                gain=f"{100 * check.versus_reference.mean:.1f}", reference=i.name_of(check.reference or "-"))
    return sentence


def conclusion_text(i: Inputs, c: Conclusion) -> str:
    """The rule's sentence, methods that did not learn first, then those behind the planners' forecast;
    where the task measures forgetting, what each PEFT method's training cost in it."""
    space = " " if i.lang == "en" else ""
    if c.rule == "did_not_learn":
        sentence = _did_not_learn_text(i, c)
    elif c.not_learned:
        sentence = text(i.lang, "dnl_left_out", reasons=_failed_reasons(i, c)) + space + _rule_text(i, c)
    else:
        sentence = _rule_text(i, c)
    left_out = [m for m in c.behind_planners if m not in c.not_learned]
    if left_out and c.rule not in {"planners", "did_not_learn"}:
        sentence = _planners_text(i, c, left_out, "planners_left_out") + space + sentence
    return sentence + _forgetting(i, c)


def _planners_text(i: Inputs, c: Conclusion, methods: list[str], key: str) -> str:
    """Which trained methods are not significantly better than the best classical forecast, and its score."""
    row = next(r for r in i.rows if r.planners is not None)
    assert row.planners is not None
    many = len(methods) > 1
    return text(i.lang, key, methods=join(i.lang, [i.name_of(m) for m in methods]),
                verb="are" if many else "is", verb2="are" if many else "is", best=i.name_of(row.planners.best),
                metric=metric_name(i.lang, i.metric), score=score_text(row.planners.best_score, i.percent))


def _forgetting(i: Inputs, c: Conclusion) -> str:
    """Where the task measures forgetting, what each PEFT method's training cost in it."""
    lora, rand = i.by_kind.get("lora"), i.by_kind.get("randlora")
    if c.rule == "insufficient" or not (lora and rand and "forgetting" in lora.scores and "forgetting" in rand.scores):
        return ""
    return ("" if i.lang == "ja" else " ") + text(i.lang, "conclusion_forgetting", r=f"{rand.scores['forgetting'].mean:+.3f}",
                                                  l=f"{lora.scores['forgetting'].mean:+.3f}")


def _amount(i: Inputs, value: float) -> str:
    """How much better (or worse) a difference is, without its sign: points for shares, else the metric's own units."""
    if i.percent:
        return f"{100 * abs(value):.1f}{NBSP}" + text(i.lang, "unit_points")
    return f"{abs(value):.3f}"


def _ends(i: Inputs, d: PairedDifference) -> dict[str, str]:
    """An interval's ends as the tables print them: signed points for shares, else signed values."""
    if i.percent:
        return {"lo": points(d.low), "hi": points(d.high)}
    return {"lo": f"{d.low:+.3f}", "hi": f"{d.high:+.3f}"}


def _difference(i: Inputs, d: PairedDifference) -> str:
    """A signed difference as the conclusion prints it: points for shares, else the metric's units."""
    return points(d.mean) + NBSP + text(i.lang, "unit_points") if i.percent else f"{d.mean:+.3f}"


def _headline(i: Inputs, c: Conclusion) -> str:
    """RandLoRA against LoRA, the PoC's first question, as the opening sentence when both ran."""
    d = c.randlora_vs_lora
    if d is None:
        return ""
    sig = text(i.lang, "sig_yes" if d.significant else "sig_no")
    return text(i.lang, "headline", diff=_difference(i, d), level=level(d.confidence), sig=sig, **_ends(i, d)) \
        + (" " if i.lang == "en" else "")


def _lora_baseline(i: Inputs, c: Conclusion) -> bool:
    """Whether RandLoRA was compared with LoRA as the baseline: the rules' own RandLoRA-LoRA sentences apply."""
    lora = i.by_kind.get("lora")
    return c.randlora_vs_lora is not None and lora is not None and c.baseline == lora.method


def _others_compared(i: Inputs, c: Conclusion) -> bool:
    """Whether PEFT methods beyond LoRA and RandLoRA were compared with the baseline (full fine-tuning has
    a rule of its own)."""
    return any(r.difference is not None and r.method_kind not in {"lora", "randlora", "full"} for r in i.trained)


def _better_text(i: Inputs, c: Conclusion) -> str:
    best = next(r for r in i.rows if r.method == c.recommended)
    d = best.difference
    assert d is not None
    holm = text(i.lang, "holm_p", p=p_text(d.p_value), m=d.adjusted_for) \
        if d.adjusted_for > 1 and d.p_value is not None else ""
    return _headline(i, c) + text(i.lang, "rule_better", method=i.name_of(best), baseline=i.name_of(c.baseline or "-"),
                                  metric=metric_name(i.lang, i.metric), gain=_amount(i, d.mean),
                                  level=level(d.confidence), holm=holm, **_ends(i, d))


def _inconclusive_text(i: Inputs, c: Conclusion) -> str:
    d, baseline = c.randlora_vs_lora, i.name_of(c.baseline or "-")
    metric = metric_name(i.lang, i.metric)
    if not _lora_baseline(i, c):
        return _headline(i, c) + text(i.lang, "rule_none_better", baseline=baseline, metric=metric)
    sentence = text(i.lang, "rule_inconclusive", metric=metric, diff=_difference(i, d), level=level(d.confidence),
                    **_ends(i, d))
    return sentence + (text(i.lang, "rule_none_other", baseline=baseline) if _others_compared(i, c) else "")


def _rule_text(i: Inputs, c: Conclusion) -> str:
    lang, kinds, metric = i.lang, i.by_kind, metric_name(i.lang, i.metric)
    d = c.randlora_vs_lora
    if c.rule == "full":
        f = c.full_vs_best_peft
        peak = kinds["full"].peak_memory_mib
        return _headline(i, c) + text(
            lang, "rule_full", metric=metric, gain=_amount(i, f.mean), best=i.name_of(c.best_peft),
            mem="-" if peak is None else f"{peak:,.0f} MiB", level=level(f.confidence), **_ends(i, f))
    if c.rule == "randlora":
        lora, rand = kinds["lora"], kinds["randlora"]
        ratio = rand.compared_s.mean / lora.compared_s.mean if rand.compared_s and lora.compared_s else float("nan")
        return text(lang, "rule_randlora", metric=metric, gain=_amount(i, d.mean), ratio=f"{ratio:.2f}",
                    level=level(d.confidence), **_ends(i, d))
    if c.rule == "better":
        return _better_text(i, c)
    if c.rule == "lora":
        return text(lang, "rule_lora", metric=metric, loss=_amount(i, d.mean), level=level(d.confidence), **_ends(i, d))
    if c.rule == "unreliable":
        return text(lang, "rule_unreliable", methods=join(lang, [i.name_of(r) for r in i.rows
                                                                if not r.selection.held]))
    if c.rule == "inconclusive":
        return _inconclusive_text(i, c)
    if c.rule == "planners":
        return _planners_text(i, c, [m for m in c.behind_planners if m not in c.not_learned] or list(c.behind_planners),
                              "rule_planners")
    return text(lang, "rule_insufficient")


# --- the executive summary ------------------------------------------------------------------------

def _confidence(i: Inputs, c: Conclusion) -> str:
    seeds = min((r.score.n for r in i.trained), default=0)
    decisive = c.rule in {"full", "randlora", "better", "lora"}
    level = "conf_high" if decisive and seeds >= MIN_SEEDS else "conf_medium" if decisive else "conf_low"
    n_test = max((r.n_test or 0 for r in i.trained), default=0)
    return text(i.lang, "confidence", level=text(i.lang, level),
                why=text(i.lang, "conf_why", seeds=seeds, n=f"{n_test:,}"))


def _decision(i: Inputs, c: Conclusion) -> str:
    methods = join(i.lang, [i.name_of(m) for m in c.not_learned])
    key = "dec_" + c.rule
    if c.rule == "inconclusive" and (not _lora_baseline(i, c) or _others_compared(i, c)):
        key = "dec_none_better"
    return text(i.lang, key, methods=methods, method=i.name_of(c.recommended or "-"),
                baseline=i.name_of(c.baseline or "-")) + (" " if i.lang == "en" else "") + _confidence(i, c)


def _trade(i: Inputs) -> str:
    lang, rows = i.lang, i.trained
    if not rows:
        return ""
    sep = "、" if lang == "ja" else ", "
    vs = "、" if lang == "ja" else " / "

    def listing(values: list[str]) -> str:
        return vs.join(f"{i.name_of(r)} {v}" for r, v in zip(rows, values))

    scores = text(lang, "trade_scores", metric=metric_name(lang, i.metric),
                  values=listing([score_text(r.score.mean, i.percent) for r in rows]))
    # Host RAM does not size a GPU (and ranks the methods differently): only GPU memory is a trade.
    gpu = all(r.memory_label.startswith("GPU") for r in rows)
    parts = [text(lang, "trade_memory", label=text(lang, "mem_gpu"),
                  values=listing([f"{r.peak_memory_mib:,.0f} MiB" if r.peak_memory_mib else "-" for r in rows]))
             ] if gpu else []
    parts += [text(lang, "trade_time", values=listing([duration(r.compared_s.mean if r.compared_s else None, lang)
                                                      for r in rows])),
             text(lang, "trade_cost", values=listing([money(r.cost_per_run, i.currency, lang) for r in rows]))]
    if (priced := totals(i, rows)) is not None:
        spec, total = priced
        parts.append(text(lang, "trade_serving", tasks=spec.tasks, months=spec.horizon_months,
                          values=listing([money(total[r.method], i.currency, lang) for r in rows])))
    end = "。" if lang == "ja" else "."
    resources = sep.join(parts)
    resources = resources[:1].upper() + resources[1:] + end + (text(lang, "trade_loaded") if i.loaded else "")
    return text(lang, "trade", scores=scores, resources=resources)


def _job_seconds(i: Inputs, row: MethodRow) -> float:
    """A job of this method as stored: load, train, evaluate (its process's whole life)."""
    runs = list(i.ok_runs[row.method].values())
    return sum(r.timing.total_s or 0.0 for r in runs) / max(1, len(runs))


def _search_size(i: Inputs) -> tuple[int, float]:
    """(trials, seconds) of the learning-rate search for every trained method, each trial as long as one
    of its stored jobs (trials train as long as the runs by default)."""
    specs = {(m.name or m.method): m for m in i.recipe.methods} if i.recipe else {}
    trials, seconds = 0, 0.0
    for row in i.trained:
        spec = specs.get(row.method)
        if spec is None or not get_method(row.method_kind).TRAINS:
            continue
        n = len(grid(spec))
        trials += n
        seconds += n * _job_seconds(i, row)
    return trials, seconds


def _power_step(i: Inputs, c: Conclusion) -> str:
    """For an inconclusive RandLoRA-against-LoRA comparison: what a 2-point difference would take, from
    the same test's power on these data (more seeds, or more test examples with one seed)."""
    lang, d = i.lang, c.randlora_vs_lora
    have = min((r.score.n for r in i.trained), default=1)
    if d is None or d.needed is None or (d.counts == "seeds" and d.needed > MAX_SEEDS):
        detectable = "-" if d is None or d.detectable is None else points(d.detectable).lstrip("+")
        return text(lang, "next_power_limit", detectable=detectable)
    if d.counts == "examples":
        return text(lang, "next_examples", n=f"{d.n:,}", needed=f"{d.needed:,}",
                    detectable=points(d.detectable or 0).lstrip("+"))
    total = max(d.needed, have + 1)
    per_seed = sum(_job_seconds(i, r) for r in i.measured)
    return text(lang, "next_seeds", more=total - have, total=total, time=duration((total - have) * per_seed, lang))


def _next_step(i: Inputs, c: Conclusion) -> str:
    lang = i.lang
    untuned = [r for r in i.trained if r.method not in i.searched]
    seeds_total = max((r.score.n for r in i.trained), default=1)
    reruns = sum(_job_seconds(i, r) for r in i.trained) * seeds_total
    if c.rule == "insufficient":
        diverged = [i.name_of(r.method) for r in i.records if r.status is Status.DIVERGED]
        if diverged:  # a rerun would diverge again: the learning rate has to change
            return text(lang, "next_diverged", methods=join(lang, sorted(set(diverged))))
        return text(lang, "next_missing")
    if c.rule in {"did_not_learn", "unreliable"} or (c.rule == "inconclusive" and untuned):
        trials, seconds = _search_size(i)
        key = "next_research" if c.rule == "unreliable" else "next_search"
        return text(lang, key, trials=trials, time=duration(seconds + reruns, lang))
    if c.rule == "inconclusive":
        return _power_step(i, c)
    if c.rule == "planners":
        return text(lang, "next_planners", method=i.name_of(c.recommended or "-"))
    chosen = next(r for r in i.rows if r.method == c.recommended)
    spec = i.recipe.cost if i.recipe else None
    if spec and spec.target_train_examples and spec.target_epochs and chosen.examples_per_s:
        hours, cost = projected_cost(examples=spec.target_train_examples, epochs=spec.target_epochs,
                                     examples_per_s=chosen.examples_per_s, price=chosen.price)
        return text(lang, "next_production", method=i.name_of(chosen), examples=f"{spec.target_train_examples:,}",
                    epochs=f"{spec.target_epochs:g}", time=duration(hours * 3600, lang),
                    cost=money(cost, i.currency, lang))
    return text(lang, "next_target", method=i.name_of(chosen),
                time=duration(chosen.train_s.mean if chosen.train_s else None, lang))


def executive_summary(i: Inputs, c: Conclusion) -> list[str]:
    """Three bullets: the decision and its confidence; the trade; the next step and what it costs."""
    return [b for b in (_decision(i, c), _trade(i), _next_step(i, c)) if b]
