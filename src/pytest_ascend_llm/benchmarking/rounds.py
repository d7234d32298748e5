"""Timed rounds as plain Python: each round ends with a device synchronize, outputs such as KV caches
are dropped at once, and only token counts and generation traces are kept. On a CPU device a host
probe (``host_probe.py``) is timed before each round, outside it, so the gate can compare runs at
equal host speed.

``run_rounds`` times rounds itself (no pytest needed); the pytest layer hands ``RoundLog.round`` to
pytest-benchmark's ``pedantic`` instead, so both paths record rounds the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pytest_ascend_llm.benchmarking.adaptive import RoundPolicy
from pytest_ascend_llm.benchmarking.host_probe import HostProbe
from pytest_ascend_llm.benchmarking.results import CaseResult
from pytest_ascend_llm.devices.base import Device
from pytest_ascend_llm.engines.base import GenerationResult


@dataclass
class RoundLog:
    """What each round produced: engine-counted tokens, the generation results (for TTFT/TPOT/ITL), the
    process CPU seconds and, on a CPU device, the host probe's seconds just before it."""

    work: Callable[[], object]
    tokens: Callable[[object], int]
    device: Device
    rounds: list[tuple[int, list[GenerationResult], float, float | None]] = field(default_factory=list)
    probe: Callable[[], float] | None = None
    _probed: float | None = None

    def __post_init__(self) -> None:
        if self.probe is None and self.device.kind == "cpu":
            self.probe = HostProbe()

    def before_round(self, setup: Callable[[], None] | None = None) -> Callable[[], None]:
        """The untimed step before each round: the case's own ``setup``, then the host probe."""

        def prepare() -> None:
            if setup is not None:
                setup()
            if self.probe is not None:
                self._probed = self.probe()

        return prepare

    def round(self) -> None:
        """One round; its process CPU seconds are kept too (on a CPU device, CPU time well below wall
        time means another process took the cores)."""
        cpu_start = time.process_time()
        output = self.work()
        self.device.synchronize()
        results = [r for r in output if isinstance(r, GenerationResult)] if isinstance(output, list) else []
        self.rounds.append((self.tokens(output), results, time.process_time() - cpu_start, self._probed))
        self._probed = None

    def run(
        self,
        setup: Callable[[], None] | None,
        warmup: int,
        wants_more: Callable[[list[float]], bool],
        stop_warming: Callable[[], bool] | None = None,
        after_warmup: Callable[[list[float]], None] | None = None,
    ) -> list[float]:
        """Untimed warm-up rounds (fewer once ``stop_warming()``: a bound has passed), then timed rounds
        while ``wants_more(seconds so far)``. ``after_warmup`` hears the warm-up rounds' rough seconds."""
        prepare = self.before_round(setup)
        warmed: list[float] = []
        for _ in range(warmup):
            if warmed and stop_warming is not None and stop_warming():
                break
            prepare()
            start = time.perf_counter()
            self.round()
            warmed.append(time.perf_counter() - start)
        if after_warmup is not None:
            after_warmup(warmed)
        seconds: list[float] = []
        while wants_more(seconds):
            prepare()
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
        probes = [probe for *_, probe in timed]
        return CaseResult(
            name=name,
            round_seconds=list(round_seconds),
            tokens_per_round=[count for count, *_ in timed],
            requests=[r for _, results, *_ in timed for r in results],
            extra=dict(extra or {}),
            round_cpu_seconds=[cpu for _, _, cpu, _ in timed] if self.device.kind == "cpu" else [],
            host_probe_seconds=probes if probes and None not in probes else [],
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
