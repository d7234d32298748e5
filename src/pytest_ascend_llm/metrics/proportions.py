"""Statistics of proportions for accuracy checks: how sure a score of k/n is, and whether a change is real.

An accuracy measured on 50 questions moves by several points between runs by chance alone, so a check that compares
bare proportions fails or passes on noise. These functions give the interval a proportion is known to within
(Wilson), the exact test of a paired before/now change (McNemar) and the interval of that change (Newcombe). Plain
``math`` only: they are called where neither numpy nor scipy is wanted.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def _z(confidence: float) -> float:
    """The two-sided standard normal quantile for ``confidence`` (1.959964 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if value < 0:
            raise ValueError(f"{name} must not be negative, not {value}")


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n.

    Method: Wilson, E. B. (1927), "Probable inference, the law of succession, and statistical inference",
    JASA 22:209-212; method 3 in Newcombe, R. G. (1998), "Two-sided confidence intervals for the single
    proportion: comparison of seven methods", Statistics in Medicine 17:857-872. The limits are
    (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n). Unlike the Wald interval it stays inside [0, 1]
    and keeps near-nominal coverage at small n and near 0 or 1. With n = 0 nothing is known: (0.0, 1.0).
    """
    _check_counts(k=k, n=n)
    if k > n:
        raise ValueError(f"k ({k}) cannot exceed n ({n})")
    z = _z(confidence)
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    low = 0.0 if k == 0 else max(0.0, centre - half_width)
    high = 1.0 if k == n else min(1.0, centre + half_width)
    return low, high


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts of a paired 2x2 table.

    Method: McNemar, Q. (1947), Psychometrika 12:153-157, in its exact (conditional binomial) form: under no change
    each of the n = b + c discordant pairs falls either way with probability 1/2, so min(b, c) is Binomial(n, 1/2)
    and p = min(1, 2 · P(X <= min(b, c))) (see Fagerland, Lydersen & Laake (2013), "The McNemar test for binary
    matched-pairs data: mid-p and asymptotic are better than exact conditional", BMC Med Res Methodol 13:91).
    b = right before/wrong now, c = wrong before/right now. No discordant pairs: 1.0.
    """
    _check_counts(b=b, c=c)
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def _phi(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's (1998) continuity-corrected phi for method 10: ad - bc is replaced by max(ad - bc - n/2, 0) when
    ad > bc; phi is 0 when a margin is empty."""
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    cross = a * d - b * c
    if cross > 0:
        cross = max(cross - (a + b + c + d) / 2, 0.0)
    return cross / math.sqrt(margins)


def paired_difference_interval(a: int, b: int, c: int, d: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """The change in accuracy (now - before) = (c - b)/n of a paired 2x2 table, with its confidence interval.

    a = right both times, b = right before/wrong now, c = wrong before/right now, d = wrong both times.
    Method: Newcombe, R. G. (1998), "Improved confidence intervals for the difference between binomial
    proportions based on paired data", Statistics in Medicine 17:2635-2650, method 10 (the hybrid score, or
    "square-and-add", interval): with p1 = (a+c)/n (now) and p2 = (a+b)/n (before), their Wilson limits
    (l1, u1), (l2, u2) and the correlation phi corrected as in the paper,
    low = D - sqrt((p1-l1)² - 2·phi·(p1-l1)(u2-p2) + (u2-p2)²) and
    high = D + sqrt((u1-p1)² - 2·phi·(u1-p1)(p2-l2) + (p2-l2)²), D = p1 - p2.
    The paper's example a=20, b=12, c=2, d=16 gives 0.0562 to 0.3292 for before - now. Returns
    (difference, low, high); an empty table gives (0.0, -1.0, 1.0).
    """
    _check_counts(a=a, b=b, c=c, d=d)
    n = a + b + c + d
    if n == 0:
        return 0.0, -1.0, 1.0
    now, before = (a + c) / n, (a + b) / n
    now_low, now_high = wilson_interval(a + c, n, confidence)
    before_low, before_high = wilson_interval(a + b, n, confidence)
    phi = _phi(a, b, c, d)
    below_now, above_before = now - now_low, before_high - before
    above_now, below_before = now_high - now, before - before_low
    difference = (c - b) / n
    low = difference - math.sqrt(max(0.0, below_now**2 - 2 * phi * below_now * above_before + above_before**2))
    high = difference + math.sqrt(max(0.0, above_now**2 - 2 * phi * above_now * below_before + below_before**2))
    return difference, max(-1.0, low), min(1.0, high)
