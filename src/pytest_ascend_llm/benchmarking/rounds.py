"""Timed rounds as plain Python: each round ends with a device synchronize, outputs such as KV caches
are dropped at once, and only token counts and generation traces are kept.

``run_rounds`` times rounds itself (no pytest needed); the pytest layer hands ``RoundLog.round`` to
pytest-benchmark's ``pedantic`` instead, so both paths record rounds the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pytest_ascend_llm.benchmarking.adaptive import RoundPolicy
from pytest_ascend_llm.benchmarking.results import CaseResult
from pytest_ascend_llm.devices.base import Device
from pytest_ascend_llm.engines.base import GenerationResult


@dataclass
class RoundLog:
    """What each round produced: engine-counted tokens and the generation results (for TTFT/TPOT/ITL)."""

    work: Callable[[], object]
    tokens: Callable[[object], int]
    device: Device
    rounds: list[tuple[int, list[GenerationResult], float]] = field(default_factory=list)

    def round(self) -> None:
        """One round; its process CPU seconds are kept too (on a CPU device, CPU time well below wall
        time means another process took the cores)."""
        cpu_start = time.process_time()
        output = self.work()
        self.device.synchronize()
        results = [r for r in output if isinstance(r, GenerationResult)] if isinstance(output, list) else []
        self.rounds.append((self.tokens(output), results, time.process_time() - cpu_start))

    def run(
        self, setup: Callable[[], None] | None, warmup: int, wants_more: Callable[[list[float]], bool]
    ) -> list[float]:
        """Untimed warm-up rounds, then timed rounds while ``wants_more(seconds so far)``."""
        for _ in range(warmup):
            if setup is not None:
                setup()
            self.round()
        seconds: list[float] = []
        while wants_more(seconds):
            if setup is not None:
                setup()
            seconds.append(self.timed_round())
        return seconds

    def timed_round(self) -> float:
        """One round timed here, device-synchronized at both ends; returns its seconds."""
        start = self.device.now()
        self.round()
        return self.device.now() - start

    def case(self, name: str, round_seconds: list[float], extra: dict | None = None) -> CaseResult:
        """The last len(round_seconds) rounds (warm-up rounds come first and are left out)."""
        timed = self.rounds[-len(round_seconds) :] if round_seconds else []
        return CaseResult(
            name=name,
            round_seconds=list(round_seconds),
            tokens_per_round=[count for count, _, _ in timed],
            requests=[r for _, results, _ in timed for r in results],
            extra=dict(extra or {}),
            round_cpu_seconds=[cpu for _, _, cpu in timed] if self.device.kind == "cpu" else [],
        )


def run_rounds(
    name: str,
    work: Callable[[], object],
    tokens: Callable[[object], int],
    device: Device,
    rounds: int = 5,
    warmup: int = 1,
    setup: Callable[[], None] | None = None,
    extra: dict | None = None,
    policy: RoundPolicy | None = None,
) -> CaseResult:
    """Benchmark a case without pytest: ``setup`` runs untimed before each round; ``policy`` (adaptive
    rounds) replaces the fixed ``rounds``."""
    log = RoundLog(work, tokens, device)
    seconds = log.run(setup, warmup, policy.wants_more if policy else (lambda done: len(done) < rounds))
    return log.case(name, seconds, extra)
