"""Who times a performance case's rounds, chosen once per session.

- pytest-benchmark's rounds (the usual case): its table, saved JSON and --benchmark-compare see them;
- our own rounds under pytest-xdist, where pytest-benchmark switches itself off: same policy, same
  statistics, results file, report and gate, without pytest-benchmark's table and JSON;
- one untimed run under --benchmark-disable: a correctness check whose assertions still run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from pytest_ascend_llm.plugin import benchmark_adapter as adapter

if TYPE_CHECKING:
    from pytest_ascend_llm.benchmarking.adaptive import RoundPolicy
    from pytest_ascend_llm.benchmarking.bounds import Bound
    from pytest_ascend_llm.benchmarking.results import CaseResult
    from pytest_ascend_llm.benchmarking.rounds import RoundLog


@dataclass(frozen=True)
class Rounds:
    """How many rounds a case gets: warm-up, then the adaptive policy or a fixed count, within a bound
    (--llm-case-seconds, --llm-max-minutes) that stops it after at least one timed round."""

    warmup: int
    policy: RoundPolicy | None
    fixed: int
    bound: Bound | None = None
    after_warmup: Callable[[list[float]], None] | None = None

    @property
    def needed(self) -> int:
        """The rounds the case asks for before it may stop: the policy's floor, or the fixed count."""
        return self.policy.floor if self.policy is not None else self.fixed

    def wanted(self, seconds: list[float]) -> bool:
        """What the policy (or the fixed count) asks for, bound or not."""
        return self.policy.wants_more(seconds) if self.policy is not None else len(seconds) < self.fixed

    def wants_more(self, seconds: list[float]) -> bool:
        if seconds and self.bound is not None and self.bound.passed():
            return False
        return self.wanted(seconds)

    def cut_short(self, seconds: list[float]) -> bool:
        """The bound stopped the case before its policy was done."""
        return self.bound is not None and self.bound.passed() and self.wanted(seconds)

    def run(self, log: RoundLog, setup: Callable[[], None] | None) -> list[float]:
        stop = self.bound.passed if self.bound is not None else None
        return log.run(setup, self.warmup, self.wants_more, stop, self.after_warmup)


class Timer:
    """Times one case's rounds; ``timed`` is False when the case runs only as a correctness check."""

    timed = True
    saves_to_benchmark = True  # the case's metrics go into pytest-benchmark's saved JSON

    def prepare(self, benchmark) -> None:
        """Called when a test receives ``llm_bench``, before it runs anything."""

    def rounds(self, benchmark, log: RoundLog, setup: Callable[[], None] | None, plan: Rounds) -> list[float]:
        raise NotImplementedError

    def load(self, benchmark, case: CaseResult) -> None:
        """A serving load run as the case: its per-request E2E latencies stand for rounds."""

    def one_round(self, benchmark, seconds: float, mode: str) -> None:
        """A case timed once by the test itself (an output fingerprint's generation)."""
        adapter.mark_used(benchmark, mode)


class BenchmarkRounds(Timer):
    """pytest-benchmark's fixture records the rounds: adaptive ones handed over, fixed ones by pedantic."""

    def rounds(self, benchmark, log: RoundLog, setup: Callable[[], None] | None, plan: Rounds) -> list[float]:
        if adapter.can_take_rounds(benchmark):
            seconds = plan.run(log, setup)
            adapter.take_rounds(benchmark, seconds, "llm_bench(...)")
            return seconds
        fixed = plan.fixed if plan.policy is None else plan.policy.floor  # a pytest-benchmark without the seam
        benchmark.pedantic(log.round, setup=log.before_round(setup), rounds=fixed, warmup_rounds=plan.warmup)
        return adapter.pedantic_rounds(benchmark)

    def load(self, benchmark, case: CaseResult) -> None:
        if adapter.can_take_rounds(benchmark) and case.round_seconds:
            adapter.take_rounds(benchmark, case.round_seconds, "llm_bench.record_load(...)")

    def one_round(self, benchmark, seconds: float, mode: str) -> None:
        if adapter.can_take_rounds(benchmark):
            adapter.take_rounds(benchmark, [seconds], mode)
        else:
            adapter.mark_used(benchmark, mode)


class OwnRounds(Timer):
    """Under xdist: the rounds are timed here, and the fixture is marked used so it does not warn."""

    saves_to_benchmark = False

    def prepare(self, benchmark) -> None:
        adapter.mark_used(benchmark, "llm_bench(...) under xdist")

    def rounds(self, benchmark, log: RoundLog, setup: Callable[[], None] | None, plan: Rounds) -> list[float]:
        return plan.run(log, setup)


class UntimedOnce(Timer):
    """--benchmark-disable: pytest-benchmark's pedantic runs setup and the round once, untimed."""

    timed = False
    saves_to_benchmark = False

    def rounds(self, benchmark, log: RoundLog, setup: Callable[[], None] | None, plan: Rounds) -> list[float]:
        seconds: list[float] = []
        benchmark.pedantic(lambda: seconds.append(log.timed_round()), setup=setup)
        return seconds

    def load(self, benchmark, case: CaseResult) -> None:
        benchmark.pedantic(lambda: None)


def choose_timer(config: pytest.Config) -> Timer:
    """pytest-benchmark's rounds, unless it switched itself off: then ours in an xdist worker, else one
    untimed run."""
    if not adapter.benchmarking_off(config):
        return BenchmarkRounds()
    return OwnRounds() if hasattr(config, "workerinput") else UntimedOnce()
