"""Bounds a case respects: its own seconds (``--llm-case-seconds``) and the run's (``--llm-max-minutes``).

A bound is a deadline, not a round budget: a case stopped by one keeps every round it timed, and the
percentiles those rounds cannot resolve are marked so (``CaseResult.metrics()['unresolved']``). What it
stopped short of is written into the case (``stopped_by``), so the gate can say "inconclusive, N rounds
would decide it" instead of passing a number that rests on too little.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pytest_ascend_llm.metrics.stats import min_samples


@dataclass(frozen=True)
class Bound:
    """A deadline on ``time.perf_counter()``'s clock and the option that set it, as the user wrote it."""

    deadline: float
    option: str

    def passed(self, now: float | None = None) -> bool:
        return (time.perf_counter() if now is None else now) >= self.deadline

    def left(self, now: float | None = None) -> float:
        return self.deadline - (time.perf_counter() if now is None else now)


def case_bound(case_seconds: float | None, run_bound: Bound | None, now: float | None = None) -> Bound | None:
    """The earlier of the case's own bound (from ``now``) and the run's; None when neither is set."""
    now = time.perf_counter() if now is None else now
    own = Bound(now + case_seconds, f"--llm-case-seconds {case_seconds:g}") if case_seconds is not None else None
    bounds = [bound for bound in (own, run_bound) if bound is not None]
    return min(bounds, key=lambda bound: bound.deadline) if bounds else None


def run_bound(max_minutes: float | None, started: float) -> Bound | None:
    """The run's deadline, counted from the session's start."""
    if max_minutes is None:
        return None
    return Bound(started + max_minutes * 60, f"--llm-max-minutes {max_minutes:g}")


def stopped_by(bound: Bound, rounds: int, percentile: float, wanted: int | None = None) -> dict[str, object]:
    """What a case cut short by ``bound`` records: the option, the rounds it timed, and the rounds the
    tracked percentile needs to exist (or the fixed count asked for), so a later gate can say so."""
    needed = max(min_samples(percentile), wanted or 0)
    return {
        "option": bound.option,
        "rounds": rounds,
        "needed": needed,
        "percentile": percentile,
        "line": f"stopped by {bound.option} after {rounds} round(s); "
        + (f"P{percentile:g} needs {needed}" if rounds < needed else f"before its P{percentile:g} was pinned down"),
    }
