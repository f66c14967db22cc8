"""Statistics against hand-computed cases, with scipy as the reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from poc_cli.stats import mcnemar_exact, paired_bootstrap, paired_t, pareto_front, summarize


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


def test_pareto_front() -> None:
    # (accuracy, memory): the 3rd is dominated by the 1st, the 4th ties nobody.
    points = [(0.90, 100.0), (0.95, 300.0), (0.85, 150.0), (0.70, 50.0)]
    assert pareto_front(points) == [0, 1, 3]
