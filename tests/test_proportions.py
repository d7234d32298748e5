"""Statistics of proportions: Wilson, exact McNemar and Newcombe's paired interval, against hand-computed and
published values, their edge cases, and seeded coverage checks."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from pytest_ascend_llm.metrics.proportions import mcnemar_exact, paired_difference_interval, wilson_interval

# Wilson ------------------------------------------------------------------------------------------------------------


def test_wilson_37_of_50_by_hand():
    # z = 1.959964, z² = 3.841459: centre (0.74 + 0.038415) / 1.076829 = 0.722881,
    # half width 1.820128 · sqrt(0.003848 + 0.000384) = 0.118410.
    low, high = wilson_interval(37, 50)
    assert low == pytest.approx(0.604468, abs=1e-5)
    assert high == pytest.approx(0.841285, abs=1e-5)


def test_wilson_at_the_edges_by_hand():
    # k = 0: the upper limit is z²/n / (1 + z²/n) = 0.384146 / 1.384146.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.277533, abs=1e-5))
    assert wilson_interval(10, 10) == (pytest.approx(0.722467, abs=1e-5), 1.0)


def test_wilson_with_nothing_scored_is_the_whole_range():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_widens_with_confidence_and_narrows_with_n():
    low95, high95 = wilson_interval(37, 50)
    low99, high99 = wilson_interval(37, 50, confidence=0.99)
    assert low99 < low95 and high99 > high95
    low_big, high_big = wilson_interval(370, 500)
    assert high_big - low_big < high95 - low95


@pytest.mark.parametrize(("k", "n", "confidence"), [(-1, 10, 0.95), (11, 10, 0.95), (5, 10, 1.0), (5, 10, 0.0)])
def test_wilson_rejects_impossible_input(k, n, confidence):
    with pytest.raises(ValueError):
        wilson_interval(k, n, confidence)


def test_wilson_exact_coverage_at_n100_p07():
    """The exact coverage, summed over the binomial: 0.9372 here (Wilson's coverage oscillates with p and n)."""
    coverage = sum(
        math.comb(100, k) * 0.7**k * 0.3 ** (100 - k)
        for k in range(101)
        if wilson_interval(k, 100)[0] <= 0.7 <= wilson_interval(k, 100)[1]
    )
    assert coverage == pytest.approx(0.9372, abs=1e-4)


def test_wilson_covers_the_true_proportion_about_95_percent_of_the_time():
    rng = random.Random(20240601)
    runs, covered = 2000, 0
    for _ in range(runs):
        k = sum(rng.random() < 0.7 for _ in range(100))
        low, high = wilson_interval(k, 100)
        covered += low <= 0.7 <= high
    assert 0.93 <= covered / runs <= 0.97


# McNemar -----------------------------------------------------------------------------------------------------------


def test_mcnemar_1_and_9_by_hand():
    # P(X <= 1) for Binomial(10, 1/2) is (1 + 10) / 1024; two-sided doubles it.
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(1, 9) == pytest.approx(0.0215, abs=1e-4)


@pytest.mark.parametrize(
    ("b", "c", "expected"), [(0, 0, 1.0), (5, 5, 1.0), (40, 40, 1.0), (0, 5, 2 / 32), (0, 10, 2 / 1024)]
)
def test_mcnemar_known_values(b, c, expected):
    assert mcnemar_exact(b, c) == pytest.approx(expected)


def test_mcnemar_handles_large_counts():
    assert 0.0 < mcnemar_exact(400, 500) < 0.01


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


# Newcombe's paired interval ----------------------------------------------------------------------------------------

# Published 95% limits of before - now (Newcombe's orientation: (b - c)/n). The function returns now - before,
# so its interval is the mirror image: (-upper, -lower).
PUBLISHED = [
    # Newcombe (1998) Stat Med 17:2635, the paper's example, method 10 (its method 8 gives 0.0618 to 0.3242).
    ((20, 12, 2, 16), (0.0562, 0.3292), 4),
    # Fagerland, Lydersen & Laake (2014) Stat Med 33:2850, airway hyper-responsiveness (Bentur et al. 2009).
    ((1, 1, 7, 12), (-0.507, -0.026), 3),
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables (2017), ch. 8: Cavo et al. (2012).
    ((59, 6, 16, 80), (-0.1186, -0.0046), 4),
    # The Tang (2010) example checked in the ratesci R package's tests.
    ((8, 3, 1, 2), (-0.1574, 0.4136), 4),
]


@pytest.mark.parametrize(("table", "limits", "decimals"), PUBLISHED)
def test_paired_interval_matches_published_examples(table, limits, decimals):
    a, b, c, d = table
    difference, low, high = paired_difference_interval(a, b, c, d)
    assert difference == pytest.approx((c - b) / (a + b + c + d))
    assert (round(-high, decimals), round(-low, decimals)) == limits


def test_paired_interval_mirrors_when_before_and_now_swap():
    difference, low, high = paired_difference_interval(30, 4, 9, 7)
    assert paired_difference_interval(30, 9, 4, 7) == pytest.approx((-difference, -high, -low))


def test_paired_interval_holds_the_estimate_and_stays_in_range_for_every_small_table():
    for a, b, c, d in itertools.product(range(5), repeat=4):
        if a + b + c + d == 0:
            continue
        difference, low, high = paired_difference_interval(a, b, c, d)
        assert -1.0 <= low <= difference <= high <= 1.0, (a, b, c, d)


def test_paired_interval_narrows_with_more_questions():
    _, low, high = paired_difference_interval(30, 6, 3, 11)
    _, low_big, high_big = paired_difference_interval(300, 60, 30, 110)
    assert high_big - low_big < (high - low) / 2


def test_paired_interval_of_an_empty_table_is_the_whole_range():
    assert paired_difference_interval(0, 0, 0, 0) == (0.0, -1.0, 1.0)


def test_paired_interval_covers_the_true_change_about_95_percent_of_the_time():
    """Independent check by simulation: correlated right/wrong pairs, true change c - b = 0.05 - 0.10."""
    rng = random.Random(7)
    cells, weights, true_change = "abcd", (0.60, 0.10, 0.05, 0.25), -0.05
    runs, covered = 1000, 0
    for _ in range(runs):
        drawn = rng.choices(cells, weights=weights, k=200)
        _, low, high = paired_difference_interval(*(drawn.count(cell) for cell in cells))
        covered += low <= true_change <= high
    assert 0.93 <= covered / runs <= 0.97
