"""Statistics against hand-computed cases, with scipy as the reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from poc_cli.stats import (
    holm,
    mcnemar,
    mcnemar_exact,
    mean_interval,
    paired_bootstrap,
    paired_t,
    summarize,
    trials_for_half_width,
    wilson,
)


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
    assert result.significant == (result.p_value < 0.05)  # the bootstrap's own p, from the same resamples


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
    # the net count in words: 5 more right (right/wrong scores, McNemar's test)
    a, b = [1.0] * 10 + [0.0] * 5, [1.0] * 5 + [0.0] * 10
    assert mcnemar(a, b).net_examples == 5
    losses = paired_bootstrap([0.3, 0.2, 0.4], [0.5, 0.1, 0.6])
    assert losses.p_value is not None and losses.net_examples is None


# --- one procedure per comparison: the interval and p never disagree -------------------------------


@pytest.mark.parametrize("confidence", [0.95, 0.975])
def test_mcnemar_interval_and_p_agree_across_a_sweep_of_discordant_pairs(confidence: float) -> None:
    """300 examples, 20 that only b got right and 0 to 60 that only a got right: significance flips
    somewhere in the sweep, and the exact interval and McNemar's p flip together."""
    verdicts = []
    for only_a in range(0, 61):
        a = [1.0] * only_a + [0.0] * 20 + [1.0] * 150
        b = [0.0] * only_a + [1.0] * 20 + [1.0] * 150
        a += [0.0] * (300 - len(a))
        b += [0.0] * (300 - len(b))
        d = mcnemar(a, b, confidence)
        assert d.p_value == pytest.approx(mcnemar_exact(a, b))
        assert d.significant == (d.p_value < 1 - confidence), (only_a, d)
        assert d.low <= d.mean <= d.high and d.net_examples == only_a - 20
        verdicts.append(d.significant)
    assert True in verdicts and False in verdicts  # both sides of the boundary were crossed


def test_the_exact_interval_by_hand() -> None:
    """8 of 10 discordant pairs favour a, over 40 examples: theta's Clopper-Pearson interval is
    (beta(0.025; 8, 3), beta(0.975; 9, 2)); the difference is 10/40 (2 theta - 1)."""
    a = [1.0] * 8 + [0.0] * 2 + [1.0] * 30
    b = [0.0] * 8 + [1.0] * 2 + [1.0] * 30
    d = mcnemar(a, b)
    low, high = sps.beta.ppf(0.025, 8, 3), sps.beta.ppf(0.975, 9, 2)
    assert d.mean == pytest.approx(6 / 40)
    assert (d.low, d.high) == pytest.approx((0.25 * (2 * low - 1), 0.25 * (2 * high - 1)))
    assert d.p_value == pytest.approx(2 * 56 / 1024) and not d.significant and d.low < 0


def test_t_interval_and_p_agree_across_seeds() -> None:
    rng = np.random.default_rng(3)
    seen = set()
    for shift in np.linspace(0.0, 0.05, 26):
        for seeds in (2, 3, 5):
            d = paired_t(shift + rng.normal(0, 0.02, seeds))
            assert d.significant == (d.p_value < 0.05), (shift, seeds, d)
            seen.add(d.significant)
            tighter = paired_t(shift + rng.normal(0, 0.02, seeds), confidence=0.99)
            assert tighter.significant == (tighter.p_value < 0.01)
    assert seen == {True, False}


def test_bootstrap_interval_and_p_agree() -> None:
    rng = np.random.default_rng(5)
    seen = set()
    for shift in np.linspace(0.0, 0.3, 16):
        a = rng.normal(1.0 + shift, 1.0, 120)
        b = rng.normal(1.0, 1.0, 120)
        d = paired_bootstrap(a, b, resamples=4000)
        assert d.significant == (d.p_value < 0.05), (shift, d)
        seen.add(d.significant)
    assert seen == {True, False}


def test_holm_against_hand_computed_values() -> None:
    """p = 0.01, 0.04, 0.03: sorted 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1, kept monotone: 0.06).
    0.01 passes alpha / 3; 0.03 fails alpha / 2, and so does every later one, at that same level."""
    found = holm([0.01, 0.04, 0.03])
    assert [p for p, _ in found] == pytest.approx([0.03, 0.06, 0.06])
    assert [c for _, c in found] == pytest.approx([1 - 0.05 / 3, 0.975, 0.975])
    assert holm([0.001, 0.002]) == [(pytest.approx(0.002), pytest.approx(0.975)),
                                    (pytest.approx(0.002), pytest.approx(0.95))]
    assert holm([0.2]) == [(pytest.approx(0.2), pytest.approx(0.95))]


def test_holm_adjusted_intervals_agree_with_the_adjusted_p() -> None:
    """Three methods against one baseline, each by the t-test at the level Holm gives it."""
    rng = np.random.default_rng(11)
    for _ in range(30):
        diffs = [rng.normal(mu, 0.02, 4) for mu in rng.uniform(0.0, 0.06, 3)]
        raw = [paired_t(d).p_value for d in diffs]
        for d, (p, confidence) in zip(diffs, holm(raw)):
            assert paired_t(d, confidence).significant == (p < 0.05)


# --- what the PoC could have seen ------------------------------------------------------------------


def test_mcnemars_detectable_difference_has_80_percent_power() -> None:
    """Simulated: examples disagree with probability 0.3 and the disagreements favour a by the
    detectable difference; McNemar's exact test then rejects in about 80% of 2,000 PoCs."""
    n, share = 400, 0.3
    a = [1.0] * 60 + [0.0] * 60 + [1.0] * 200 + [0.0] * 80
    b = [0.0] * 60 + [1.0] * 60 + [1.0] * 200 + [0.0] * 80
    d = mcnemar(a, b)  # 120 of 400 discordant, evenly split: nothing to see
    assert not d.significant and 0.05 < d.detectable < 0.1
    rng = np.random.default_rng(0)
    theta = 0.5 + d.detectable / (2 * share)
    rejected = 0
    for _ in range(2000):
        discordant = rng.binomial(n, share)
        only_a = rng.binomial(discordant, theta)
        rejected += sps.binomtest(only_a, discordant, 0.5).pvalue < 0.05
    assert rejected / 2000 == pytest.approx(0.80, abs=0.04)
    assert d.needed == pytest.approx(((1.959964 * share**0.5 + 0.841621 * (share - 0.02**2) ** 0.5) / 0.02) ** 2, rel=1e-3)


def test_the_t_tests_detectable_difference_and_the_seeds_it_needs() -> None:
    d = paired_t([0.01, -0.01, 0.03, 0.0])
    sd = np.std([0.01, -0.01, 0.03, 0.0], ddof=1)
    assert d.detectable == pytest.approx((sps.t.ppf(0.975, 3) + sps.t.ppf(0.8, 3)) * sd / 2)
    n = d.needed
    assert n is not None and d.counts == "seeds"
    assert (sps.t.ppf(0.975, n - 1) + sps.t.ppf(0.8, n - 1)) * sd / n**0.5 <= 0.02
    assert (sps.t.ppf(0.975, n - 2) + sps.t.ppf(0.8, n - 2)) * sd / (n - 1) ** 0.5 > 0.02


# --- rates ------------------------------------------------------------------------------------------


def test_wilson_against_hand_computed_values() -> None:
    # 1 of 4 at 95%: centre (0.25 + 1.92/4) / (1 + 3.84/4), the published (0.0456, 0.6994)
    assert wilson(0.25, 4) == pytest.approx((0.0456, 0.6994), abs=1e-4)
    assert wilson(0.0, 4) == pytest.approx((0.0, 0.4899), abs=1e-4)
    assert wilson(0.5, 30) == pytest.approx((0.3315, 0.6685), abs=1e-4)
    low, high = wilson(0.9, 300)
    assert (low, high) == pytest.approx((0.8608, 0.9291), abs=1e-4)  # centre 0.8949, half 0.0341
    assert trials_for_half_width((0.3, 0.6), 0.05) == 385  # at p = 1/2: 1.96^2 / 4 / 0.05^2
    assert trials_for_half_width((0.86, 0.93), 0.05) == 186  # at p = 0.86, the nearest 1/2: 185.0 up
