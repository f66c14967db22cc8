"""Statistics for comparing methods: runs are paired by seed, examples by position.

A single run per method is noise at PoC sizes. With two or more seeds the difference
against the reference method is a t-interval of the per-seed paired differences; with one
seed it is a paired bootstrap over test examples, with McNemar's exact test beside it.
An interval that includes zero means "no significant difference", never "better".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (None for one value) and count."""

    mean: float
    std: float | None
    n: int


@dataclass(frozen=True)
class PairedDifference:
    """A method minus the reference, with its interval and how it was computed."""

    mean: float
    low: float
    high: float
    n: int
    method: str  # "paired t over seeds" | "paired bootstrap over examples"
    p_value: float | None = None  # paired t-test over seeds; McNemar's exact test over examples (0/1 scores)
    net_examples: int | None = None  # over examples: how many more the first got right (0/1 scores only)

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return self.low > 0 or self.high < 0


def summarize(values: Sequence[float]) -> Summary:
    """Mean and sample standard deviation of a metric over seeds."""
    array = np.asarray(values, dtype=float)
    std = float(array.std(ddof=1)) if len(array) > 1 else None
    return Summary(mean=float(array.mean()), std=std, n=len(array))


def paired_t(differences: Sequence[float], confidence: float = CONFIDENCE) -> PairedDifference:
    """t-interval of paired differences (one per seed); needs at least two."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        raise ValueError("a t-interval needs at least two paired differences")
    mean = float(d.mean())
    spread = float(d.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, df=len(d) - 1) * spread / math.sqrt(len(d)))
    p_value = float(sps.ttest_1samp(d, 0.0).pvalue) if spread > 0 else (1.0 if mean == 0 else 0.0)
    return PairedDifference(mean, mean - half, mean + half, len(d), "paired t over seeds", p_value=p_value)


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value: a binomial test on the discordant pairs."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(sps.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def paired_bootstrap(
    correct_a: Sequence[float], correct_b: Sequence[float], *, resamples: int = 10_000, seed: int = 0,
    confidence: float = CONFIDENCE,
) -> PairedDifference:
    """Mean per-example score of a minus b over the same test examples (accuracy: 1 where right),
    percentile interval; McNemar's p and the net count where the scores are 0/1."""
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired bootstrap needs two equally long, non-empty prediction lists")
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    binary = bool(np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all())
    return PairedDifference(float(diff.mean()), float(low), float(high), int(diff.size),
                            "paired bootstrap over examples",
                            p_value=mcnemar_exact(a > 0.5, b > 0.5) if binary else None,
                            net_examples=int(round(diff.sum())) if binary else None)


def mean_interval(seed_scores: Sequence[float], per_example: Sequence[float] | None = None, *,
                  resamples: int = 10_000, seed: int = 0, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """95% interval of a method's score: a t-interval over two or more seeds; with one seed, a
    percentile bootstrap over its test examples (None when neither is possible)."""
    values = np.asarray(seed_scores, dtype=float)
    if len(values) >= 2:
        half = float(sps.t.ppf(0.5 + confidence / 2, df=len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
        return float(values.mean()) - half, float(values.mean()) + half
    if per_example is not None and len(per_example):
        scores = np.asarray(per_example, dtype=float)
        rng = np.random.default_rng(seed)
        means = scores[rng.integers(0, scores.size, size=(resamples, scores.size))].mean(axis=1)
        tail = (1 - confidence) / 2
        low, high = np.quantile(means, [tail, 1 - tail])
        return float(low), float(high)
    return None
