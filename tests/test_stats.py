"""Statistics against hand-computed cases, with scipy as the reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from poc_cli.stats import mcnemar_exact, mean_interval, paired_bootstrap, paired_t, summarize


def test_summary_by_hand() -> None:
    s = summarize([0.80, 0.82, 0.84])
    assert s.mean == pytest.approx(0.82) and s.std == pytest.approx(0.02) and s.n == 3
    assert summarize([0.5]).std is None


def test_paired_t_matches_scipy() -> None:
    a = np.array([0.81, 0.84, 0.80, 0.86])
    b = np.array([0.78, 0.80, 0.79, 0.81])
    result = paired_t(a - b)
    reference = sps.ttest_rel(a, b).confidence_interval(0.95)
    assert result.mean == pytest.approx(np.mean(a - b))
    assert (result.low, result.high) == pytest.approx((reference.low, reference.high))
    assert result.significant


def test_paired_t_by_hand() -> None:
    # d = (1, 2, 3): mean 2, sd 1, se 1/sqrt(3), t(0.975, 2) = 4.302653
    result = paired_t([1.0, 2.0, 3.0])
    assert result.low == pytest.approx(2 - 4.302653 / 3**0.5, abs=1e-5)
    assert result.high == pytest.approx(2 + 4.302653 / 3**0.5, abs=1e-5)


def test_interval_across_zero_is_not_significant() -> None:
    result = paired_t([0.01, -0.02, 0.015])
    assert result.low < 0 < result.high and not result.significant


def test_paired_t_needs_two_seeds() -> None:
    with pytest.raises(ValueError):
        paired_t([0.1])


def test_mcnemar_by_hand_and_against_scipy() -> None:
    # 10 discordant pairs, 8 favour a: p = 2 * P(X >= 8 | n=10, 1/2) = 2 * 56/1024
    a = [True] * 8 + [False] * 2 + [True] * 20
    b = [False] * 8 + [True] * 2 + [True] * 20
    assert mcnemar_exact(a, b) == pytest.approx(2 * 56 / 1024)
    assert mcnemar_exact(a, b) == pytest.approx(sps.binomtest(8, 10, 0.5).pvalue)
    assert mcnemar_exact([True, False], [True, False]) == 1.0


def test_bootstrap_interval_contains_the_difference_and_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(400) < 0.80
    b = rng.random(400) < 0.70
    result = paired_bootstrap(a, b, resamples=4000, seed=1)
    assert result.mean == pytest.approx(a.mean() - b.mean())
    assert result.low < result.mean < result.high
    reference = sps.bootstrap((a.astype(float) - b.astype(float),), np.mean, n_resamples=4000,
                              method="percentile", random_state=1).confidence_interval
    assert result.low == pytest.approx(reference.low, abs=0.01)
    assert result.high == pytest.approx(reference.high, abs=0.01)
    assert result.p_value == pytest.approx(mcnemar_exact(a, b))


def test_the_t_test_and_the_score_intervals() -> None:
    d = [0.02, 0.05, 0.01, 0.04]
    result = paired_t(d)
    assert result.p_value == pytest.approx(sps.ttest_1samp(d, 0.0).pvalue)
    seeds = [0.80, 0.84, 0.82]
    low, high = mean_interval(seeds)
    half = sps.t.ppf(0.975, 2) * np.std(seeds, ddof=1) / np.sqrt(3)
    assert (low, high) == pytest.approx((0.82 - half, 0.82 + half))
    right = [1.0] * 80 + [0.0] * 20  # one seed: a bootstrap over its 100 examples
    low, high = mean_interval([0.8], right)
    assert 0.70 < low < 0.8 < high < 0.9
    assert mean_interval([0.8]) is None  # one seed and no per-example scores: no interval to claim
    # the net count in words: 5 more right, McNemar only for 0/1 scores
    a, b = [1.0] * 10 + [0.0] * 5, [1.0] * 5 + [0.0] * 10
    assert paired_bootstrap(a, b).net_examples == 5
    losses = paired_bootstrap([0.3, 0.2, 0.4], [0.5, 0.1, 0.6])
    assert losses.p_value is None and losses.net_examples is None
