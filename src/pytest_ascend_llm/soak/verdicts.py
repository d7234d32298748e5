"""The soak's verdicts, each one line with its numbers: memory growth per judged source, latency
drift, errors. An interval wholly above its limit fails; one that straddles it is inconclusive, said
plainly (never a silent pass); one wholly at or below passes. Memory that cannot be seen is "not
judged", in one line, and the other checks still stand."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pytest_ascend_llm.soak.drift import Drift
from pytest_ascend_llm.soak.trend import Growth, Line
from pytest_ascend_llm.soak.windows import Finished, Window

PASSED, FAILED, INCONCLUSIVE, NOT_JUDGED = "passed", "failed", "inconclusive", "not judged"


@dataclass(frozen=True)
class Check:
    """One verdict: what was checked, its outcome, and the line that says it with the numbers."""

    name: str
    outcome: str
    line: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def against(low: float, high: float, limit: float) -> str:
    """failed when the whole interval lies above ``limit``, passed when none of it does, else inconclusive."""
    if low > limit:
        return FAILED
    return PASSED if high <= limit else INCONCLUSIVE


def number(value: float, sign: str = "") -> str:
    """Three significant digits, or whole numbers with thousands separators from 1,000 on (no 1.2e+05)."""
    return f"{value:{sign},.0f}" if abs(value) >= 1000 else f"{value:{sign}.3g}"


def _interval(line: Line) -> str:
    return f"[{number(line.low)}, {number(line.high)}]"


def rate_text(growth: Growth) -> str:
    """'+912 MiB/h [850, 990], +1.02 MiB per 1,000 requests [0.99, 1.05] (95 %, 13 readings)'."""
    hour, per_k = growth.per_hour, growth.per_1k_requests
    text = f"{number(hour.slope, '+')} MiB/h {_interval(hour)}"
    if per_k is not None:
        text += f", {number(per_k.slope, '+')} MiB per 1,000 requests {_interval(per_k)}"
    return text + f" (95 %, {hour.points} readings after the first window)"


def growth_check(growth: Growth, limit: float) -> Check:
    name = f"growth of {growth.source}"
    if growth.per_hour is None:
        line = (
            f"{growth.source}: too few readings after the first window for a slope: inconclusive "
            "(a longer --llm-soak-seconds, or more windows with --llm-soak-window)"
        )
        return Check(name, INCONCLUSIVE, line)
    outcome = against(growth.per_hour.low, growth.per_hour.high, limit)
    verdict = {
        FAILED: f"above --llm-soak-max-growth {limit:g} MiB/h: failed",
        PASSED: f"within {limit:g} MiB/h",
        INCONCLUSIVE: f"the interval straddles {limit:g} MiB/h: inconclusive (a longer soak narrows it)",
    }[outcome]
    return Check(name, outcome, f"{growth.source} {rate_text(growth)}: {verdict}")


def drift_check(drift: Drift, max_drift: float) -> Check:
    name, limit = "latency drift", 1 + max_drift
    if drift.ratio is None:
        line = (
            f"latency drift: {drift.problem}: inconclusive (longer windows with --llm-soak-window, or more "
            "streams with --llm-soak-concurrency)"
        )
        return Check(name, INCONCLUSIVE, line)
    outcome = against(drift.low, drift.high, limit)
    verdict = {
        FAILED: f"above 1 + --llm-soak-max-drift = {limit:g}: failed",
        PASSED: f"within {limit:g}",
        INCONCLUSIVE: f"the interval straddles {limit:g}: inconclusive",
    }[outcome]
    line = (
        f"latency drift: last window's E2E P95 {drift.last_p95 * 1e3:.3g} ms is {drift.ratio:.3g}x the first's "
        f"{drift.first_p95 * 1e3:.3g} ms [{drift.low:.3g}, {drift.high:.3g}] (95 %, bootstrap; n {drift.first_n} "
        f"and {drift.last_n}): {verdict}"
    )
    return Check(name, outcome, line)


def errors_check(finished: Sequence[Finished], windows: Sequence[Window]) -> Check:
    failed = [f.record for f in finished if not f.record.completed]
    if not failed:
        return Check("errors", PASSED, f"errors: none in {len(finished)} requests")
    where = ", ".join(f"window {w.index}: {w.errors}" for w in windows if w.errors)
    reasons = "; ".join(f"{n}× {why}" for why, n in Counter(r.error for r in failed).most_common(2))
    return Check("errors", FAILED, f"errors: {len(failed)} of {len(finished)} requests failed ({where}): {reasons}")


def not_judged(line: str) -> Check:
    return Check("memory", NOT_JUDGED, f"memory: {line}")


def overall(checks: Sequence[Check]) -> str:
    outcomes = {check.outcome for check in checks}
    if FAILED in outcomes:
        return FAILED
    return INCONCLUSIVE if INCONCLUSIVE in outcomes else PASSED


def failure_message(checks: Sequence[Check]) -> str:
    """One line naming every failed check with its numbers."""
    failed = [check for check in checks if check.outcome == FAILED]
    return f"soak failed on {', '.join(c.name for c in failed)}: " + "; ".join(c.line for c in failed)
