"""The report's recommendation, computed from the numbers by explicit rules.

Rules, in order (all differences are paired, with 95% intervals, in the task's primary
metric, "better" in the direction it declares; see stats.py):
  0. none, when LoRA or RandLoRA did not learn (one answer for nearly every test example, or
     no significant gain over the task's trivial reference; see learning.py): comparing a
     failure with anything measures the failure. Full fine-tuning that did not learn is never
     recommended either (rule 1 skips it);
  0b. none yet, when the searched setting of LoRA or RandLoRA (or of full fine-tuning, when it
     is measured) did not hold up in its seeded runs: the difference would measure a tuning
     failure, not the methods;
  1. full fine-tuning, when it is significantly better than the best PEFT method and its
     peak memory fits `report.memory_limit_mib` (or no limit is set);
  2. RandLoRA, when it is significantly better than LoRA;
  3. LoRA, when it is significantly better than RandLoRA;
  4. otherwise inconclusive: more seeds or data are needed (LoRA, the cheaper to run, is
     the interim choice).
Without ok runs of both LoRA and RandLoRA there is no recommendation.
"""

from __future__ import annotations

from dataclasses import dataclass

from poc_cli.compare import MethodRow
from poc_cli.stats import PairedDifference


@dataclass(frozen=True)
class Conclusion:
    """Which rule fired, the method it recommends, and the numbers behind it."""

    rule: str  # "did_not_learn" | "unreliable" | "full" | "randlora" | "lora" | "inconclusive" | "insufficient"
    recommended: str | None
    randlora_vs_lora: PairedDifference | None
    full_vs_best_peft: PairedDifference | None
    best_peft: str | None
    not_learned: tuple[str, ...] = ()  # trained methods that did not learn (named first in the conclusion)


def decide(rows: list[MethodRow], *, full_vs_best: PairedDifference | None, best_peft: str | None,
           memory_limit_mib: float | None, not_held: frozenset[str] = frozenset()) -> Conclusion:
    """Apply the rules above to one recipe's rows; `not_held` names the methods whose searched
    setting did not hold up in their seeded runs."""
    by_kind = {row.method_kind: row for row in rows if row.score is not None}
    lora, randlora, full = by_kind.get("lora"), by_kind.get("randlora"), by_kind.get("full")
    failed = tuple(row.method for row in rows if row.learning is not None and row.learning.learned is False)
    if lora is None or randlora is None:
        return Conclusion("insufficient", None, None, full_vs_best, best_peft, failed)
    diff = randlora.difference if randlora.baseline == lora.method else None
    sign = 1.0 if lora.higher_is_better else -1.0  # > 0 below: the first is better

    def better(d: PairedDifference | None) -> bool:
        return d is not None and min(sign * d.low, sign * d.high) > 0

    def worse(d: PairedDifference | None) -> bool:
        return d is not None and max(sign * d.low, sign * d.high) < 0

    if lora.method in failed or randlora.method in failed:
        return Conclusion("did_not_learn", None, diff, full_vs_best, best_peft, failed)
    if any(row.method in not_held for row in (lora, randlora, full) if row is not None):
        return Conclusion("unreliable", None, diff, full_vs_best, best_peft, failed)
    if full is not None and full.method not in failed and better(full_vs_best):
        fits = memory_limit_mib is None or (full.peak_memory_mib or 0) <= memory_limit_mib
        if fits:
            return Conclusion("full", full.method, diff, full_vs_best, best_peft, failed)
    if better(diff):
        return Conclusion("randlora", randlora.method, diff, full_vs_best, best_peft, failed)
    if worse(diff):
        return Conclusion("lora", lora.method, diff, full_vs_best, best_peft, failed)
    return Conclusion("inconclusive", lora.method, diff, full_vs_best, best_peft, failed)
