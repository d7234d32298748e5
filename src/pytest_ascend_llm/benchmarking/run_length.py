"""How long a run of timed cases will take, said before it starts and refined after every case.

The estimate rests on what is known and says which: a compared run's case durations (scaled by how this
run's finished cases compare with theirs), else the cases finished so far, else the first case's
warm-up round times the rounds each case needs. A tracked P95 needs at least 21 rounds whatever a
case's time budget, so a slow model's run is long for a reason the user can see before waiting for it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


def minutes(seconds: float) -> str:
    """'42 s' below two minutes, else '6.1 min'."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def saved_case_seconds(metrics: Mapping[str, object]) -> float | None:
    """A saved case's wall seconds: as recorded (``case_wall_s``), else its timed rounds' sum (warm-up and
    set-up left out, so an underestimate); None for a load run, whose rounds overlap."""
    wall = metrics.get("case_wall_s")
    if isinstance(wall, int | float):
        return float(wall)
    rounds = (metrics.get("samples") or {}).get("round_seconds") if isinstance(metrics.get("samples"), dict) else None
    if not rounds or "load" in metrics:
        return None
    return float(sum(rounds))


@dataclass
class RunLength:
    """The run's timed cases in run order, a compared run's seconds for those it has, and each finished
    case's seconds."""

    cases: Sequence[str]
    expected: Mapping[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    done: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_compared(cls, cases: Sequence[str], compared: Mapping[str, Mapping[str, object]]) -> RunLength:
        expected = {}
        for name in cases:
            seconds = saved_case_seconds(compared[name]) if name in compared else None
            if seconds is not None:
                expected[name] = seconds
        return cls(list(cases), expected)

    def finish(self, name: str, seconds: float) -> None:
        self.done[name] = seconds

    def drop(self, name: str) -> None:
        """A case that will not run after all (skipped, or failed before it measured)."""
        self.cases = [case for case in self.cases if case != name]

    def _speed_against_compared(self) -> float | None:
        """This run's finished cases' seconds over the compared run's, for the cases both have."""
        both = [name for name in self.done if name in self.expected and self.expected[name] > 0]
        if not both:
            return None
        return sum(self.done[name] for name in both) / sum(self.expected[name] for name in both)

    def remaining(self) -> tuple[float, str] | None:
        """Seconds the unfinished cases should take and what that rests on; None when nothing can say."""
        left = [name for name in self.cases if name not in self.done]
        if not left:
            return 0.0, "nothing left"
        scale = self._speed_against_compared()
        mean_done = statistics.fmean(self.done.values()) if self.done else None
        known = [name for name in left if name in self.expected]
        unknown = len(left) - len(known)
        if unknown and mean_done is None:
            return None
        total = sum(self.expected[name] for name in known) * (scale or 1.0) + unknown * (mean_done or 0.0)
        parts = []
        if known:
            factor = f", scaled ×{scale:.2f} by the cases both runs have" if scale is not None else ""
            parts.append(f"{len(known)} from the compared run{factor}")
        if unknown:
            parts.append(f"{unknown} at this run's mean {minutes(mean_done or 0.0)} per case")
        return total, "; ".join(parts)

    def opening(self) -> str | None:
        """The line before the first case, where a compared run gives durations; else None."""
        if not self.expected:
            return None
        estimate = self.remaining()
        known = sum(name in self.expected for name in self.cases)
        new = len(self.cases) - known
        head = f"run length: {len(self.cases)} timed case(s); the compared run's durations give ~"
        if new:
            total = sum(self.expected.values())
            return f"{head}{minutes(total)} for {known} of them ({new} not in it: estimated as they run)"
        return f"{head}{minutes(estimate[0] if estimate else 0.0)}"

    def from_first_warmup(self, warmup_seconds: Sequence[float], rounds_needed: int, warmup: int) -> str | None:
        """The line inside the first case, after its warm-up, when no compared run gave durations."""
        if self.expected or self.done or not warmup_seconds:
            return None
        per_round = statistics.median(warmup_seconds)
        per_case = per_round * (rounds_needed + warmup)
        return (
            f"run length: {len(self.cases)} timed case(s), no compared run to estimate from; the first case's "
            f"warm-up round took {per_round:.3g} s and each case needs at least {rounds_needed} timed round(s) after "
            f"{warmup} warm-up: ~{minutes(per_case * len(self.cases))} if every case were like the first "
            "(each case's line below refines it)"
        )

    def progress(self, name: str, seconds: float, rounds: int | None, note: str = "") -> str:
        """One line per finished case: which of how many, its seconds and rounds, the run's elapsed time
        and what remains."""
        index = len(self.done)
        elapsed = time.perf_counter() - self.started
        what = f"{rounds} round(s) in {seconds:.1f} s" if rounds is not None else f"{seconds:.1f} s"
        estimate = self.remaining()
        remains = "nothing can say yet" if estimate is None else f"~{minutes(estimate[0])} ({estimate[1]})"
        if estimate is not None and estimate[0] == 0:
            remains = "none"
        tail = f"; {note}" if note else ""
        name = name.split("::")[-1]
        return f"[{index}/{len(self.cases)}] {name}: {what}{tail}; elapsed {minutes(elapsed)}, remaining {remains}"
