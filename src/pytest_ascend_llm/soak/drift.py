"""Latency drift: the last window's P95 over the first window's, with a seeded bootstrap interval.

Method: the percentile bootstrap (Efron & Tibshirani 1993, ch. 13) of the ratio of two P95s, each
window resampled on its own (the windows are independent samples of requests), ``RESAMPLES`` times
from one seeded generator, so the same latencies give the same interval on every run. P95 is numpy's
linear interpolation (METRICS.md). A window with fewer requests than P95 needs to be more than its
maximum (21, ``metrics.stats.min_samples``) gives no ratio: the verdict says so instead of guessing.

Limits: the first window carries the warm-up, so a server that starts slow and then drifts back up
can read as no drift; the per-window P95s in the saved metrics show the whole path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pytest_ascend_llm.metrics.stats import min_samples

RESAMPLES = 2000
CONFIDENCE = 0.95
QUANTILE = 95


@dataclass(frozen=True)
class Drift:
    """``ratio`` = last P95 / first P95 with its interval; None (and ``problem``) when it cannot be had."""

    first_p95: float | None
    last_p95: float | None
    ratio: float | None
    low: float | None
    high: float | None
    first_n: int
    last_n: int
    problem: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def latency_drift(first: Sequence[float], last: Sequence[float], seed: int = 0) -> Drift:
    """The drift between two windows' latencies (seconds), resampled with ``seed``."""
    import numpy as np

    need = min_samples(QUANTILE)
    a, b = np.asarray(first, dtype=float), np.asarray(last, dtype=float)
    if min(a.size, b.size) < need:
        problem = f"P95 needs {need} requests per window, the first had {a.size} and the last {b.size}"
        return Drift(None, None, None, None, None, int(a.size), int(b.size), problem)
    p_first, p_last = float(np.percentile(a, QUANTILE)), float(np.percentile(b, QUANTILE))
    rng = np.random.default_rng(seed)
    tops = np.percentile(rng.choice(b, (RESAMPLES, b.size)), QUANTILE, axis=1)
    bottoms = np.percentile(rng.choice(a, (RESAMPLES, a.size)), QUANTILE, axis=1)
    ratios = tops / np.where(bottoms > 0, bottoms, np.nan)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.nanpercentile(ratios, [tail, 100 - tail])
    ratio = p_last / p_first if p_first > 0 else float("nan")
    return Drift(p_first, p_last, ratio, float(low), float(high), int(a.size), int(b.size))
