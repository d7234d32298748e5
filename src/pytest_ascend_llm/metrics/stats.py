"""Summary statistics with the field's conventions: percentiles by linear interpolation (numpy default).

A percentile is only as good as its sample count: with linear interpolation the q-th percentile of n
samples sits between the two largest samples, in effect the maximum, until n reaches
``min_samples(q)`` (P50: 3, P90: 11, P95: 21, P99: 101). Such a percentile is reported as unresolved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

PERCENTILES = (50, 90, 95, 99)


def min_samples(q: float) -> int:
    """Fewest samples for which the q-th percentile has at least one whole sample above it:
    (n - 1) · q/100 ≤ n - 2."""
    fraction = q / 100
    return math.ceil((2 - fraction) / (1 - fraction) - 1e-9)


def is_resolved(q: float, count: int) -> bool:
    return count >= min_samples(q)


def percentile(samples: Iterable[float], q: float) -> float:
    import numpy as np  # here, not at the top: the plugin imports this module's counting rules at load

    values = np.asarray(list(samples), dtype=float)
    if values.size == 0:
        return float("nan")
    return float(np.percentile(values, q, method="linear"))


def summarize(samples: Iterable[float]) -> dict[str, float]:
    """count, mean, min, max and P50/P90/P95/P99 of a sample (NaN-filled when empty)."""
    import numpy as np

    values = np.asarray(list(samples), dtype=float)
    summary: dict[str, float] = {"count": float(values.size)}
    if values.size == 0:
        return (
            summary
            | {key: float("nan") for key in ("mean", "min", "max")}
            | {f"p{q}": float("nan") for q in PERCENTILES}
        )
    summary |= {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}
    for q, value in zip(PERCENTILES, np.percentile(values, PERCENTILES, method="linear")):
        summary[f"p{q}"] = float(value)
    return summary
