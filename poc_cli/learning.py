"""Did a method learn anything? The task's trivial reference, and two checks against it.

At PoC sizes a badly set learning rate often leaves a model predicting one class for every
input. Its accuracy is then the majority class's share, and two such models differ by
"+0.0 points, not significant", which reads as a tie of two working methods. So every
trained method is checked against what learning nothing would score:
  - one answer: the same prediction for at least 95% of the test examples (only telling when
    the test split's own majority share is below that);
  - no gain: its primary score is not significantly better than the reference (the task's
    trivial answer, e.g. always the majority class, or its untrained model such as the
    untuned LLM), by the same paired statistics as every other comparison.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from poc_cli.records.record import StoredRecord
from poc_cli.stats import CONFIDENCE, PairedDifference, mcnemar, paired_bootstrap, paired_t
from poc_cli.trivial import Trivial
from poc_cli.trivial import trivial as trivial_answer

ONE_ANSWER_SHARE = 0.95


@dataclass(frozen=True)
class Scored:
    """One seed's primary score on test, with its per-example scores where the metric has them."""

    score: float
    per_example: list[float] | None


@dataclass(frozen=True)
class LearningCheck:
    """The verdict for one trained method (pooled over its seeds)."""

    learned: bool | None  # None: no reference to check against and no collapse seen
    reason: str | None  # "one_answer" | "no_gain" | None
    top_share: float | None  # share of test examples given the most common prediction
    reference: str | None  # what it was checked against ("majority", or the untrained method's name)
    versus_reference: PairedDifference | None


def per_example(record: StoredRecord, metric: str) -> list[float] | None:
    """The per-example test scores whose mean is `metric` (accuracy: 1 where right), if stored."""
    test = record.test_predictions
    return test.per_example.get(metric) if test else None


def scored(records: dict[int, StoredRecord], metric: str) -> dict[int, Scored]:
    """Each seed's ok record reduced to what the statistics read."""
    return {seed: Scored(score, per_example(r, metric)) for seed, r in records.items()
            if (score := r.test.get(metric)) is not None}


def paired_difference(a: dict[int, Scored], b: dict[int, Scored],
                      confidence: float = CONFIDENCE) -> PairedDifference | None:
    """a minus b, paired by seed, by one procedure (see stats.py): the paired t-test over two or more
    seeds; with one seed, McNemar's exact test where the per-example scores are right or wrong,
    else a paired bootstrap over the examples."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) >= 2:
        return paired_t([a[s].score - b[s].score for s in seeds], confidence)
    if len(seeds) == 1:
        x, y = a[seeds[0]].per_example, b[seeds[0]].per_example
        if x is not None and y is not None and len(x) == len(y) and x:
            binary = set(x) <= {0.0, 1.0} and set(y) <= {0.0, 1.0}
            return mcnemar(x, y, confidence) if binary else paired_bootstrap(x, y, confidence=confidence)
    return None


def trivial(record: StoredRecord) -> Trivial | None:
    """What learning nothing scores on this record's test split (None: the task has no such answer)."""
    test = record.test_predictions.as_dict() if record.test_predictions else {}
    return trivial_answer(record.task.name, test, tuple(record.data.labels or ()),
                          [metric.name for metric in record.task.metrics])


def trivial_scores(records: dict[int, StoredRecord], metric: str) -> dict[int, Scored]:
    """The trivial answer's score per seed, from any ok record of that seed (the test split is the
    same for every method)."""
    out = {}
    for seed, record in records.items():
        found = trivial(record)
        if found is not None and metric in found.metrics:
            out[seed] = Scored(found.metrics[metric], found.per_example.get(metric))
    return out


def _top_share(values: list[Any]) -> float | None:
    return Counter(values).most_common(1)[0][1] / len(values) if values else None


def check(runs: dict[int, StoredRecord], reference: dict[int, Scored], *, reference_name: str | None,
          metric: str, higher_is_better: bool) -> LearningCheck:
    """The verdict for one method's ok runs against the reference's scores (same seeds)."""
    tests = [r.test_predictions for r in runs.values() if r.test_predictions]
    top = _top_share([a for test in tests for a in test.answers()])
    truth_top = _top_share([t for test in tests for t in test.truth()])
    one_answer = top is not None and top >= ONE_ANSWER_SHARE and (truth_top is None or truth_top < ONE_ANSWER_SHARE)
    versus = paired_difference(scored(runs, metric), reference) if reference else None
    sign = 1.0 if higher_is_better else -1.0
    gained = versus is not None and min(sign * versus.low, sign * versus.high) > 0
    if one_answer:
        return LearningCheck(False, "one_answer", top, reference_name, versus)
    if versus is None:
        return LearningCheck(None, None, top, reference_name, None)
    return LearningCheck(gained, None if gained else "no_gain", top, reference_name, versus)
