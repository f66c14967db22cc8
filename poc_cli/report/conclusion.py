"""The report's recommendation, computed from the numbers by explicit rules.

Rules, in order (all differences are paired, with 95% intervals, in the task's primary
metric, "better" in the direction it declares; see stats.py). The baseline is LoRA unless
`report.baseline` names another method; with two or more methods compared with it, each
difference is Holm-adjusted (compare.py) before any rule reads it:
  0. none, when the baseline, LoRA or RandLoRA did not learn (one answer for nearly every test
     example, or no significant gain over the task's trivial reference; see learning.py):
     comparing a failure with anything measures the failure. Any other method that did not
     learn is left out of the decision and never recommended;
  0b. none yet, when the searched setting of the baseline, LoRA, RandLoRA (or of full
     fine-tuning, when it is measured) did not hold up in its seeded runs: the difference would
     measure a tuning failure, not the methods. Another method whose setting did not hold up is
     left out;
  1. full fine-tuning, when it is significantly better than the best PEFT method and its
     peak memory fits `report.memory_limit_mib` (or no limit is set);
  2. the best-scoring method among those significantly better than the baseline: "randlora"
     when that is RandLoRA against LoRA (the PoC's headline question), else "better";
  3. LoRA, when it is the baseline and RandLoRA is significantly worse than it;
  4. otherwise inconclusive: no method is significantly better than the baseline, which stays
     the interim choice (more seeds or data are needed to tell them apart).
Without ok runs of the baseline and of one other trained method there is no recommendation.
Where the recipe fitted classical forecasts (forecasting: AutoETS, AutoARIMA, AutoTheta), a method not
significantly better than the best of them is behind what planners have (planners.py): left out like
a method that did not learn, and when no method beats that row, or the rules above would pick one
that does not, the recommendation is "planners": keep the classical forecast, fine-tune nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from poc_cli.compare import MethodRow
from poc_cli.methods import trains
from poc_cli.stats import PairedDifference


@dataclass(frozen=True)
class Conclusion:
    """Which rule fired, the method it recommends, and the numbers behind it."""

    # "did_not_learn" | "unreliable" | "full" | "randlora" | "better" | "lora" | "inconclusive" | "insufficient"
    # | "planners" (recommended: the best classical forecast)
    rule: str
    recommended: str | None
    randlora_vs_lora: PairedDifference | None
    full_vs_best_peft: PairedDifference | None
    best_peft: str | None
    not_learned: tuple[str, ...] = ()  # trained methods that did not learn (named first in the conclusion)
    baseline: str | None = None  # what every difference is against (LoRA unless report.baseline says otherwise)
    behind_planners: tuple[str, ...] = ()  # trained methods not significantly better than the best classical row


def decide(rows: list[MethodRow], *, full_vs_best: PairedDifference | None, best_peft: str | None,
           memory_limit_mib: float | None, not_held: frozenset[str] = frozenset()) -> Conclusion:
    """Apply the rules above to one recipe's rows; `not_held` names the methods whose searched
    setting did not hold up in their seeded runs."""
    scored = [row for row in rows if row.score is not None]
    by_kind = {row.method_kind: row for row in scored}
    lora, randlora, full = by_kind.get("lora"), by_kind.get("randlora"), by_kind.get("full")
    base_name = next((row.baseline for row in scored), None)
    base = next((row for row in scored if row.method == base_name), None)
    failed = tuple(row.method for row in rows if row.learning is not None and row.learning.learned is False)
    others = [row for row in scored if trains(row.method_kind) and row is not base]
    diff = randlora.difference if randlora is not None and lora is not None and randlora.baseline == lora.method \
        else None
    behind = tuple(row.method for row in rows if row.planners is not None and not row.planners.better)
    planners = next((row.planners.best for row in rows if row.planners is not None), None)
    verdict = partial(Conclusion, randlora_vs_lora=diff, full_vs_best_peft=full_vs_best, best_peft=best_peft,
                      not_learned=failed, baseline=base_name, behind_planners=behind)
    if base is None or not others:
        return verdict("insufficient", None)
    found = _rules(base, lora, randlora, full, others, failed, not_held, full_vs_best, diff, memory_limit_mib, verdict)
    if planners is not None and found.rule != "did_not_learn" and (
            found.recommended in behind or all(row.method in behind for row in [base, *others])):
        return verdict("planners", planners)  # a method that loses to the planners' forecast is never recommended
    return found


def _rules(base: MethodRow, lora: MethodRow | None, randlora: MethodRow | None,
           full: MethodRow | None, others: list[MethodRow], failed: tuple[str, ...], not_held: frozenset[str],
           full_vs_best: PairedDifference | None, diff: PairedDifference | None, memory_limit_mib: float | None,
           verdict: partial[Conclusion]) -> Conclusion:
    """Rules 0 to 4 above, in order."""
    sign = 1.0 if base.higher_is_better else -1.0  # > 0 below: the first is better

    def better(d: PairedDifference | None) -> bool:
        return d is not None and min(sign * d.low, sign * d.high) > 0

    def worse(d: PairedDifference | None) -> bool:
        return d is not None and max(sign * d.low, sign * d.high) < 0

    headline = [row for row in (base, lora, randlora) if row is not None]
    if any(row.method in failed for row in headline):
        return verdict("did_not_learn", None)
    if any(row.method in not_held for row in (*headline, full) if row is not None):
        return verdict("unreliable", None)
    if full is not None and full.method not in failed and better(full_vs_best):
        if memory_limit_mib is None or (full.peak_memory_mib or 0) <= memory_limit_mib:
            return verdict("full", full.method)
    candidates = [row for row in others if row is not full and row.method not in failed and row.method not in not_held
                  and row.baseline == base.method and better(row.difference)]
    if candidates:
        best = max(candidates, key=lambda row: sign * row.score.mean)  # type: ignore[union-attr]
        headline_win = best is randlora and base is lora
        return verdict("randlora" if headline_win else "better", best.method)
    if base is lora and worse(diff):
        return verdict("lora", lora.method)
    return verdict("inconclusive", base.method)
