"""When to stop timing a case: once its statistic is pinned down, or its time budget is spent.

pytest-benchmark's ``max_time`` is the analogue for microbenchmarks. Here a round is a whole generation,
so the rule is about confidence: keep going until the distribution-free 95 % interval of the tracked
percentile (order statistics, binomial ranks; no resampling, so it is cheap to check after every
round) is within ±``target`` of it, with at least enough rounds for that percentile to be more than the
maximum. A fixed ``--llm-rounds`` bypasses all of this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_ascend_llm.metrics.stats import min_samples, percentile

Z_95 = 1.959964


def percentile_interval(samples: Sequence[float], q: float) -> tuple[float, float] | None:
    """A distribution-free 95 % interval for the q-th percentile: the order statistics whose ranks bound
    a Binomial(n, q/100) count; None while n is too small for the interval to exist."""
    n, p = len(samples), q / 100
    if n < 2:
        return None
    spread = Z_95 * math.sqrt(n * p * (1 - p))
    low, high = math.floor(n * p - spread), math.ceil(n * p + spread)
    if low < 0 or high > n - 1:
        return None
    ordered = sorted(samples)
    return ordered[low], ordered[high]


@dataclass(frozen=True)
class RoundPolicy:
    """Adaptive rounds: ``min_rounds`` ≤ rounds ≤ ``max_rounds``; stop early once the ``percentile``'s
    interval is within ±``target`` (relative), or once ``budget_seconds`` of timed rounds are spent."""

    min_rounds: int
    max_rounds: int
    budget_seconds: float
    percentile: float = 50
    target: float = 0.05

    @property
    def floor(self) -> int:
        """Rounds below which no stop is allowed: the minimum, and what the percentile needs to exist."""
        return min(self.max_rounds, max(self.min_rounds, min_samples(self.percentile)))

    def precise(self, seconds: Sequence[float]) -> bool:
        interval = percentile_interval(seconds, self.percentile)
        if interval is None:
            return False
        centre = percentile(seconds, self.percentile)
        return centre > 0 and (interval[1] - interval[0]) / 2 <= self.target * centre

    def done(self, seconds: Sequence[float], elapsed: float) -> bool:
        count = len(seconds)
        if count >= self.max_rounds:
            return True
        if count < self.floor:
            return False
        return elapsed >= self.budget_seconds or self.precise(seconds)

    def wants_more(self, seconds: Sequence[float]) -> bool:
        return not self.done(seconds, sum(seconds))

    def describe(self, bounded: bool = False) -> str:
        """The header's promise, true of slow cases too: the minimum is timed even when it overruns the
        time budget, unless a bound (``bounded``: --llm-case-seconds or --llm-max-minutes) stops the case."""
        budget = f"{self.budget_seconds:g} s"
        floor = f"at least {self.floor}" + (" unless a bound stops the case first" if bounded else "")
        overrun = (
            f" (a case whose {self.floor} rounds take longer than {budget} takes longer: --llm-case-seconds bounds it)"
        )
        return (
            f"adaptive rounds: {floor}, then more until the P{self.percentile:g}'s 95% interval is within "
            f"±{self.target:.0%} or {budget} of rounds are spent, at most {self.max_rounds}{'' if bounded else overrun}"
        )


def warmup_rounds(warmup: int | None, accelerator: bool) -> int:
    """Untimed warm-up rounds per case: the option, else 3 on an accelerator and 1 on CPU."""
    if warmup is not None:
        return warmup
    return 3 if accelerator else 1


def round_policy(
    rounds: int | None, case_seconds: float | None, accelerator: bool, percentile: float = 50
) -> RoundPolicy | None:
    """How many timed rounds a case gets: None when --llm-rounds fixes them, else adaptive rounds
    tracking ``percentile``: on an accelerator 10 to 200 rounds within 20 s per case; on CPU (logic
    checks on the built-in model, where the quick start must stay short) 5 to 60 within 1.5 s."""
    if rounds:
        return None
    return RoundPolicy(
        min_rounds=10 if accelerator else 5,
        max_rounds=200 if accelerator else 60,
        budget_seconds=(20.0 if accelerator else 1.5) if case_seconds is None else case_seconds,
        percentile=percentile,
    )


def tracked_percentile(gated: Sequence[float], saved: bool, compared: bool = False, ruled: bool = False) -> float:
    """The round-time percentile adaptive rounds pin down: the highest one the gate's rules need per round;
    P95 for a saved run (a later gate may need it) or a compared one without rules; else the median, also
    when every rule rests on per-token samples (TPOT, ITL): those resolve in one round, where a P95 of
    round times needs 21."""
    if gated:
        return max(gated)
    return 95.0 if saved or (compared and not ruled) else 50.0
