"""Memory growth as a slope with its 95 % interval: Theil–Sen over the readings after the first window.

Method: the Theil–Sen estimator (the median of all pairwise slopes; Sen 1968, Theil 1950) with Sen's
distribution-free interval from Kendall's tau (``scipy.stats.theilslopes``, ``alpha=0.95``). It is robust
to outliers (a garbage-collector step, one slow reading) in a way least squares is not; the first
window is left out because servers allocate there once (pools, caches, CUDA/ACL graphs, the first
pages of a KV cache), which is a step, not a trend. The same fit against the count of requests done
gives MiB per 1,000 requests: what a per-request leak costs, whatever the rate.

Limits: the interval assumes independent errors around a straight line; memory that grows in rare
large steps (an allocator growing its pool) gives a wide interval, and a short soak gives a wide one
in MiB/h. Both are reported as they are; the verdict calls a straddling interval inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

SECONDS_PER_HOUR = 3600.0
CONFIDENCE = 0.95
MIN_POINTS = 3  # fewer cannot give an interval


@dataclass(frozen=True)
class Line:
    """One Theil–Sen fit: slope and its interval in the fit's units, over ``points`` readings."""

    slope: float
    low: float
    high: float
    points: int

    def scaled(self, factor: float) -> Line:
        return Line(self.slope * factor, self.low * factor, self.high * factor, self.points)


def theil_sen(x: Sequence[float], y: Sequence[float]) -> Line | None:
    """The fit of ``y`` on ``x``, or None with fewer than MIN_POINTS distinct ``x`` values."""
    pairs = [(a, b) for a, b in zip(x, y) if b is not None and math.isfinite(b)]
    if len({a for a, _ in pairs}) < MIN_POINTS:
        return None
    from scipy.stats import theilslopes

    fit = theilslopes([b for _, b in pairs], [a for a, _ in pairs], alpha=CONFIDENCE)
    return Line(float(fit.slope), float(fit.low_slope), float(fit.high_slope), len(pairs))


@dataclass(frozen=True)
class Growth:
    """One memory source's growth after the first window: MiB/h and MiB per 1,000 requests, each with
    its 95 % interval, and the readings it rests on."""

    source: str
    per_hour: Line | None
    per_1k_requests: Line | None
    first_mib: float | None  # the first reading the fit uses
    last_mib: float | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Growth:
        lines = {key: Line(**data[key]) if data.get(key) else None for key in ("per_hour", "per_1k_requests")}
        return cls(data["source"], first_mib=data.get("first_mib"), last_mib=data.get("last_mib"), **lines)


def memory_growth(
    source: str, times: Sequence[float], done: Sequence[int], mib: Sequence[float | None], after: float
) -> Growth:
    """The growth of one source from readings at ``times`` (seconds) with ``done`` requests finished by
    then; readings before ``after`` (the end of the first window) are left out."""
    kept = [(t, n, m) for t, n, m in zip(times, done, mib) if t >= after and m is not None]
    seconds = theil_sen([t for t, _, _ in kept], [m for _, _, m in kept])
    requests = theil_sen([n for _, n, _ in kept], [m for _, _, m in kept])
    return Growth(
        source,
        seconds.scaled(SECONDS_PER_HOUR) if seconds else None,
        requests.scaled(1000.0) if requests else None,
        kept[0][2] if kept else None,
        kept[-1][2] if kept else None,
    )
