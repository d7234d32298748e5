"""Saturation search: the highest load (concurrent streams, or a Poisson request rate) at which the SLO
still holds, found with few measured points.

The search doubles the load from its start until a point fails or the bound is reached, then bisects
between the highest point that held and the lowest that failed until the two are within the axis's
resolution. It assumes that more load never helps the latencies; a noisy point that breaks that only
moves the knee within the bracket it was measured in. Plain Python: ``measure(load) -> Point`` does the
work (``saturation_point.measure_point`` against a server; any function in a test).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

KNEE, AT_BOUND, AT_START, STOPPED = "knee", "held to the bound", "failed at the start", "stopped"


@dataclass(frozen=True)
class Axis:
    """What is searched: ``concurrency`` (whole streams) or ``rate`` (req/s), from ``start`` up to
    ``bound``; the knee is pinned when the bracket is within ``resolution`` of its lower end (relative),
    and never finer than one stream."""

    name: str
    start: float
    bound: float
    resolution: float = 0.1
    option: str = ""  # the option that set the bound, for the lines that say it was reached

    def __post_init__(self) -> None:
        if not 0 < self.start <= self.bound:
            raise ValueError(f"a search from {self.start:g} up to {self.bound:g} is empty")
        if self.resolution <= 0:
            raise ValueError(f"resolution {self.resolution:g} must be positive")

    @property
    def whole(self) -> bool:
        return self.name == "concurrency"

    def up(self, load: float) -> float:
        """The next point while everything holds: twice the load, at most the bound."""
        return min(self.bound, load * 2)

    def close(self, held: float, failed: float) -> bool:
        """True when the bracket is narrow enough: one stream (or ``resolution`` of the load), or a ratio
        of 1 + ``resolution`` for a rate."""
        if self.whole:
            return failed - held <= max(1, math.floor(self.resolution * held))
        return failed <= held * (1 + self.resolution)

    def between(self, held: float, failed: float) -> float:
        """The bisection point: the integer midpoint of streams, the geometric mean of rates (a rate's
        resolution is relative), rounded to three significant digits where that stays inside."""
        if self.whole:
            return float((int(held) + int(failed)) // 2)
        middle = math.sqrt(held * failed)
        rounded = float(f"{middle:.3g}")
        return rounded if held < rounded < failed else middle

    def unit(self, load: float) -> str:
        if self.whole:
            return f"{load:g} stream" + ("" if load == 1 else "s")
        return f"{load:.3g} req/s"

    def resolution_text(self) -> str:
        if self.whole:
            return f"1 stream or {self.resolution * 100:g} % of the load, whichever is more"
        return f"{self.resolution * 100:g} % of the rate"


@dataclass(frozen=True)
class Point:
    """One measured load: whether the SLO held, why (the limits and the values), and its figures
    (``requests``, ``n``, P95s, goodput, throughput). ``run`` keeps the load run of the knee's points only."""

    load: float
    held: bool
    why: str
    figures: dict = field(default_factory=dict)
    seconds: float = 0.0
    run: object = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        return {"load": self.load, "held": self.held, "why": self.why, "seconds": self.seconds, **self.figures}


@dataclass
class Search:
    """The points in the order measured, the highest that held (``knee``) and the lowest that failed."""

    axis: Axis
    points: list[Point] = field(default_factory=list)
    knee: Point | None = None
    failed: Point | None = None
    stopped_by: str | None = None

    @property
    def outcome(self) -> str:
        if self.stopped_by is not None:  # before the bracket closed: the knee is not pinned
            return STOPPED
        if self.knee is None:
            return AT_START
        return KNEE if self.failed is not None else AT_BOUND

    def requests(self) -> int:
        return sum(int(point.figures.get("requests", 0)) for point in self.points)

    def seconds(self) -> float:
        return sum(point.seconds for point in self.points)

    def to_dict(self) -> dict:
        axis = self.axis
        return {
            "axis": axis.name,
            "start": axis.start,
            "bound": axis.bound,
            "bound_option": axis.option,
            "resolution": axis.resolution,
            "resolution_text": axis.resolution_text(),
            "outcome": self.outcome,
            "knee": self.knee.load if self.knee else None,
            "failed": self.failed.load if self.failed else None,
            "points": [point.to_dict() for point in self.points],
            "requests": self.requests(),
            "seconds": self.seconds(),
            "stopped_by": self.stopped_by,
        }


Measure = Callable[[float], Point]
Stop = Callable[[], str | None]  # a reason to stop before the next point (a run's time bound), or None


def search(axis: Axis, measure: Measure, stop: Stop | None = None) -> Search:
    """Double from ``axis.start`` until a point fails or the bound holds, then bisect to the resolution."""
    found = Search(axis)

    def take(load: float) -> Point | None:
        reason = stop() if stop is not None else None
        if reason is not None:
            found.stopped_by = reason
            return None
        began = time.perf_counter()
        point = measure(load)
        point = replace(point, load=load, seconds=point.seconds or time.perf_counter() - began)
        found.points.append(point)
        return point

    load = axis.start
    while (point := take(load)) is not None:
        _keep(found, point)
        if not point.held or load >= axis.bound:
            break
        load = axis.up(load)
    while found.knee and found.failed and not axis.close(found.knee.load, found.failed.load):
        point = take(axis.between(found.knee.load, found.failed.load))
        if point is None:
            break
        _keep(found, point)
    return found


def _keep(found: Search, point: Point) -> None:
    """The point becomes the knee or the lowest failure; the one it replaces lets go of its run."""
    if point.held:
        before, found.knee = found.knee, point
    else:
        before, found.failed = found.failed, point
    if before is not None and before.run is not None:
        index = next(i for i, p in enumerate(found.points) if p is before)
        found.points[index] = replace(before, run=None)
