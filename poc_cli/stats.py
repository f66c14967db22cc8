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
    p_value: float | None = None  # McNemar's exact test (one seed only)

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
    half = float(sps.t.ppf(0.5 + confidence / 2, df=len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    return PairedDifference(mean, mean - half, mean + half, len(d), "paired t over seeds")


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
    correct_a: Sequence[bool], correct_b: Sequence[bool], *, resamples: int = 10_000, seed: int = 0,
    confidence: float = CONFIDENCE,
) -> PairedDifference:
    """Accuracy of a minus accuracy of b over the same test examples, percentile interval."""
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired bootstrap needs two equally long, non-empty prediction lists")
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return PairedDifference(float(diff.mean()), float(low), float(high), int(diff.size),
                            "paired bootstrap over examples", p_value=mcnemar_exact(correct_a, correct_b))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated when maximising the first value and minimising the second."""
    front = []
    for i, (score, cost) in enumerate(points):
        dominated = any(
            (s >= score and c <= cost) and (s > score or c < cost) for j, (s, c) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return front
