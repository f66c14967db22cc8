"""Statistics for comparing methods: runs are paired by seed, examples by position.

A single run per method is noise at PoC sizes. Each comparison of two methods is made by one
procedure, whose interval and p-value come from the same test, so they never disagree about
significance:
  - two or more seeds: the paired t-test over the per-seed differences, with its t interval;
  - one seed, scores that are right or wrong per example (accuracy): McNemar's exact test on the
    examples only one of the two got right, with the exact (Clopper-Pearson) interval of the
    share those favour the first, turned into a difference of accuracy;
  - one seed, other per-example scores: a paired bootstrap over the test examples, with the
    bootstrap's own p (twice the share of resamples on the far side of zero).
When one baseline is compared with several methods, Holm's step-down procedure adjusts the
p-values, and each interval is taken at the level Holm's step used for it (`holm`).

Beside a difference that is not significant stands what the PoC could have seen: the smallest
difference its data detect at 80% power, and the test examples or seeds a 2-point difference needs.
An interval that includes zero means "no significant difference", never "better".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from scipy.optimize import brentq

CONFIDENCE = 0.95
POWER = 0.80
TARGET = 0.02  # the difference the "needed" sizes are for: 2 points of a share (accuracy, detection ...)
MOST_NEEDED = 10_000_000  # test examples beyond this are "not practical", not a number
MOST_SEEDS = 1_000
T_TEST = "paired t-test over seeds"
MCNEMAR = "McNemar's exact test over test examples"
BOOTSTRAP = "paired bootstrap over test examples"


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (None for one value) and count."""

    mean: float
    std: float | None
    n: int


@dataclass(frozen=True)
class PairedDifference:
    """A method minus the reference, with its interval and p from one procedure (`method`)."""

    mean: float
    low: float
    high: float
    n: int  # seeds (t-test) or test examples (over examples)
    method: str  # T_TEST | MCNEMAR | BOOTSTRAP
    p_value: float | None = None  # the procedure's own p (Holm-adjusted where `adjusted_for` > 1)
    net_examples: int | None = None  # over examples with right/wrong scores: how many more the first got right
    confidence: float = CONFIDENCE  # of the interval (above 95% where Holm's step asked for it)
    adjusted_for: int = 1  # comparisons Holm adjusted for (1: none)
    detectable: float | None = None  # the smallest difference this comparison detects at 80% power
    needed: int | None = None  # examples or seeds (as `n` counts) to detect TARGET at 80% power

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero (equivalently, p below the procedure's level)."""
        return self.low > 0 or self.high < 0

    @property
    def counts(self) -> str:
        """What `n` and `needed` count: "seeds" or "examples"."""
        return "seeds" if self.method == T_TEST else "examples"


def summarize(values: Sequence[float]) -> Summary:
    """Mean and sample standard deviation of a metric over seeds."""
    array = np.asarray(values, dtype=float)
    std = float(array.std(ddof=1)) if len(array) > 1 else None
    return Summary(mean=float(array.mean()), std=std, n=len(array))


def _tail(confidence: float) -> float:
    return (1 - confidence) / 2


def _t_detectable(sd: float, n: int, confidence: float) -> float:
    """Smallest mean difference a paired t-test over n seeds detects at POWER (noncentral-free approximation)."""
    return float((sps.t.ppf(1 - _tail(confidence), n - 1) + sps.t.ppf(POWER, n - 1)) * sd / math.sqrt(n))


def _t_needed(sd: float, confidence: float) -> int | None:
    """Seeds for a paired t-test to detect TARGET at POWER with the observed spread (None: more than
    MOST_SEEDS, not a practical PoC)."""
    if sd == 0:
        return None
    return next((n for n in range(2, MOST_SEEDS + 1) if _t_detectable(sd, n, confidence) <= TARGET), None)


def paired_t(differences: Sequence[float], confidence: float = CONFIDENCE) -> PairedDifference:
    """The paired t-test over per-seed differences and its t interval; needs at least two."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        raise ValueError("a t-interval needs at least two paired differences")
    mean = float(d.mean())
    spread = float(d.std(ddof=1))
    half = float(sps.t.ppf(1 - _tail(confidence), df=len(d) - 1) * spread / math.sqrt(len(d)))
    p_value = float(sps.ttest_1samp(d, 0.0).pvalue) if spread > 0 else (1.0 if mean == 0 else 0.0)
    return PairedDifference(mean, mean - half, mean + half, len(d), T_TEST, p_value=p_value, confidence=confidence,
                            detectable=_t_detectable(spread, len(d), confidence) if spread > 0 else None,
                            needed=_t_needed(spread, confidence))


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value: a binomial test on the discordant pairs."""
    only_a, only_b = _discordant(correct_a, correct_b)
    if only_a + only_b == 0:
        return 1.0
    return float(sps.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def _discordant(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> tuple[int, int]:
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    return int(np.sum(a & ~b)), int(np.sum(~a & b))


def _mcnemar_power(delta: float, share: float, n: int, confidence: float) -> float:
    """Power of McNemar's test to detect a difference `delta` with a discordant share `share` over
    n examples (Connor's normal approximation)."""
    if delta * delta >= share:
        return 1.0
    z = sps.norm.ppf(1 - _tail(confidence))
    return float(sps.norm.cdf((abs(delta) * math.sqrt(n) - z * math.sqrt(share)) / math.sqrt(share - delta * delta)))


def _mcnemar_needed(share: float, confidence: float) -> int | None:
    """Examples for McNemar's test to detect TARGET at POWER when `share` of them are discordant
    (Connor 1987)."""
    if share <= TARGET:  # the two would differ on fewer examples than the difference itself
        return None
    z, zb = sps.norm.ppf(1 - _tail(confidence)), sps.norm.ppf(POWER)
    needed = math.ceil((z * math.sqrt(share) + zb * math.sqrt(share - TARGET**2)) ** 2 / TARGET**2)
    return needed if needed <= MOST_NEEDED else None


def mcnemar(correct_a: Sequence[float], correct_b: Sequence[float], confidence: float = CONFIDENCE) -> PairedDifference:
    """a minus b in the share of examples right (scores 0 or 1, paired by example): McNemar's exact
    test, and the exact interval of the same binomial: with b examples only a got right and c only
    b, the difference is (b - c) / n = (b + c) / n (2 theta - 1), and theta's Clopper-Pearson
    interval excludes 1/2 exactly when the test's p is below 1 - confidence."""
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("McNemar's test needs two equally long, non-empty lists of right/wrong scores")
    n = int(a.size)
    only_a, only_b = _discordant(a > 0.5, b > 0.5)
    discordant = only_a + only_b
    share = discordant / n
    if discordant == 0:
        low = high = 0.0
    else:
        ci = sps.binomtest(only_a, discordant, 0.5).proportion_ci(confidence_level=confidence, method="exact")
        low, high = share * (2 * ci.low - 1), share * (2 * ci.high - 1)
    detectable = None
    if discordant:
        detectable = float(brentq(lambda delta: _mcnemar_power(delta, share, n, confidence) - POWER, 1e-9,
                            math.sqrt(share) - 1e-12)) if _mcnemar_power(math.sqrt(share) - 1e-12, share, n,
                                                                       confidence) > POWER else None
    return PairedDifference(float((only_a - only_b) / n), float(low), float(high), n, MCNEMAR,
                            p_value=mcnemar_exact(a > 0.5, b > 0.5), net_examples=only_a - only_b,
                            confidence=confidence, detectable=detectable,
                            needed=_mcnemar_needed(share, confidence) if discordant else None)


def paired_bootstrap(
    scores_a: Sequence[float], scores_b: Sequence[float], *, resamples: int = 10_000, seed: int = 0,
    confidence: float = CONFIDENCE,
) -> PairedDifference:
    """Mean per-example score of a minus b over the same test examples: the percentile interval of
    the resampled means, and the bootstrap's own two-sided p (twice the share of resampled means on
    the far side of zero), so the interval excludes zero when p is below 1 - confidence."""
    a = np.asarray(scores_a, dtype=float)
    b = np.asarray(scores_b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired bootstrap needs two equally long, non-empty prediction lists")
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    tail = _tail(confidence)
    low, high = np.quantile(means, [tail, 1 - tail])
    p_value = min(1.0, 2 * min(float(np.mean(means <= 0)), float(np.mean(means >= 0))))
    sd = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
    z = sps.norm.ppf(1 - tail) + sps.norm.ppf(POWER)
    needed = math.ceil((z * sd / TARGET) ** 2) if sd > 0 else None
    return PairedDifference(float(diff.mean()), float(low), float(high), int(diff.size), BOOTSTRAP,
                            p_value=p_value, confidence=confidence,
                            detectable=float(z * sd / math.sqrt(diff.size)) if sd > 0 else None,
                            needed=needed if needed is None or needed <= MOST_NEEDED else None)


def holm(p_values: Sequence[float], alpha: float = 1 - CONFIDENCE) -> list[tuple[float, float]]:
    """Holm's step-down adjustment of m p-values: (adjusted p, confidence of the matching interval)
    per comparison, in the given order. The i-th smallest p is tested at alpha / (m - i + 1) until
    one fails; later ones keep the level of the step that failed, so each interval excludes zero
    exactly when its adjusted p is below alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda k: p_values[k])
    out: list[tuple[float, float]] = [(1.0, CONFIDENCE)] * m
    running, stopped = 0.0, None
    for step, k in enumerate(order):
        running = max(running, min(1.0, (m - step) * p_values[k]))
        if stopped is None and p_values[k] > alpha / (m - step):
            stopped = step
        level = alpha / (m - (step if stopped is None else stopped))
        out[k] = (running, 1 - level)
    return out


def wilson(rate: float, trials: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson's score interval of a rate observed over `trials` (detection, false alarms): well behaved
    at 0 of 4 or 4 of 4, where the plain normal interval collapses to a point."""
    if trials <= 0:
        return 0.0, 1.0
    z = float(sps.norm.ppf(1 - _tail(confidence)))
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def trials_for_half_width(rate_interval: tuple[float, float], half_width: float,
                          confidence: float = CONFIDENCE) -> int:
    """Trials a rate needs for an interval of +- `half_width`, at the rate within `rate_interval`
    that needs the most (the one nearest 1/2)."""
    low, high = rate_interval
    p = min(max(0.5, low), high)
    z = sps.norm.ppf(1 - _tail(confidence))
    return math.ceil(z * z * p * (1 - p) / (half_width * half_width))


def mean_interval(seed_scores: Sequence[float], per_example: Sequence[float] | None = None, *,
                  resamples: int = 10_000, seed: int = 0, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """95% interval of a method's score: a t-interval over two or more seeds; with one seed, a
    percentile bootstrap over its test examples (None when neither is possible)."""
    values = np.asarray(seed_scores, dtype=float)
    if len(values) >= 2:
        half = float(sps.t.ppf(1 - _tail(confidence), df=len(values) - 1) * values.std(ddof=1)
                     / math.sqrt(len(values)))
        return float(values.mean()) - half, float(values.mean()) + half
    if per_example is not None and len(per_example):
        scores = np.asarray(per_example, dtype=float)
        rng = np.random.default_rng(seed)
        means = scores[rng.integers(0, scores.size, size=(resamples, scores.size))].mean(axis=1)
        low, high = np.quantile(means, [_tail(confidence), 1 - _tail(confidence)])
        return float(low), float(high)
    return None
