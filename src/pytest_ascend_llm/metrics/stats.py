"""Summary statistics with the field's conventions: percentiles by linear interpolation (numpy default)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

PERCENTILES = (50, 90, 95, 99)


def percentile(samples: Iterable[float], q: float) -> float:
    values = np.asarray(list(samples), dtype=float)
    if values.size == 0:
        return float("nan")
    return float(np.percentile(values, q, method="linear"))


def summarize(samples: Iterable[float]) -> dict[str, float]:
    """count, mean, min, max and P50/P90/P95/P99 of a sample (NaN-filled when empty)."""
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
