"""``llm_bench``: one performance case, timed by the session's timer, with tail metrics recorded.

A case's rounds are device-synchronized; the case's figures (P50–P99, tokens/s, TTFT/TPOT/ITL, host
noise, board power) go to the run state, the results file and pytest-benchmark's saved JSON.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from pytest_ascend_llm.benchmarking.bounds import case_bound, stopped_by
from pytest_ascend_llm.plugin import run_clock
from pytest_ascend_llm.plugin.state import RunState
from pytest_ascend_llm.plugin.timers import BenchmarkRounds, Rounds, Timer

if TYPE_CHECKING:
    from pytest_ascend_llm.benchmarking.results import CaseResult
    from pytest_ascend_llm.session import LLMSession


def rounds_for(llm: LLMSession, percentile: float) -> Rounds:
    """The session's round plan for a case tracking ``percentile``."""
    from pytest_ascend_llm.benchmarking.adaptive import round_policy, warmup_rounds

    settings, accelerator = llm.settings, llm.device.is_accelerator
    return Rounds(
        warmup=warmup_rounds(settings.warmup, accelerator),
        policy=round_policy(settings.rounds, settings.case_seconds, accelerator, percentile),
        fixed=settings.rounds or 0,
    )


class LLMBench:
    """Runs one case through the session's timer with device-synchronized rounds and records its metrics.

    With ``--benchmark-disable`` a case runs once, untimed, as a correctness check: its assertions
    still run, and it reports no latency figures. Under pytest-xdist the rounds are timed here."""

    def __init__(
        self,
        benchmark,
        llm: LLMSession,
        name: str,
        percentile: float = 50,
        config: pytest.Config | None = None,
        *,
        run: RunState | None = None,
        timer: Timer | None = None,
        hold_floors: Callable[[str, dict], None] | None = None,
    ) -> None:
        self.benchmark = benchmark
        self.config = config
        self.llm = llm
        self.name = name
        self.run = run if run is not None else RunState()
        self.timer = timer or BenchmarkRounds()
        self.hold_floors = hold_floors  # fails the case when it breaks a fixed floor (--llm-floors)
        self.started = time.perf_counter()
        self.percentile = percentile
        plan = rounds_for(llm, percentile)
        self.plan = replace(
            plan,
            bound=case_bound(llm.settings.case_seconds, self.run.run_bound, self.started),
            after_warmup=run_clock.after_warmup(config, self.run, plan.needed, plan.warmup),
        )
        benchmark.fullname = name
        self.timer.prepare(benchmark)

    def __call__(
        self,
        work: Callable[[], object],
        tokens: Callable[[object], int],
        extra: dict | None = None,
        setup: Callable[[], None] | None = None,
    ) -> CaseResult:
        """Time ``work`` per round, synchronized at the end of the round; ``setup`` runs untimed before
        each round; ``tokens`` counts what a round produced, as the engine counted it."""
        from pytest_ascend_llm.benchmarking.noise import cpu_share, load_average, noise_notes
        from pytest_ascend_llm.benchmarking.rounds import RoundLog

        load_before = load_average()
        log = RoundLog(work, tokens, self.llm.device)
        power = self.llm.power_sampler() if self.timer.timed else None
        with power or nullcontext():
            seconds = self.timer.rounds(self.benchmark, log, setup, self.plan)
            case = log.case(self.name, seconds, extra)
        if self.timer.timed and self.plan.cut_short(seconds):
            case.extra["stopped_by"] = stopped_by(self.plan.bound, len(seconds), self.percentile, self.plan.needed)
        if power is not None:
            case.extra |= power_figures(power, case)
        contention = None
        if self.llm.device.kind == "cpu":
            from pytest_ascend_llm.torch_backend import torch

            contention = cpu_share(case.round_seconds, case.round_cpu_seconds, torch.get_num_threads())
        case.extra["noise"] = noise_notes(case.round_seconds, [load_before, load_average()], contention)
        self.record(case)
        self._check_floors(case)
        return case

    def record_load(self, case: CaseResult) -> CaseResult:
        """A serving load run as this case: its per-request E2E latencies become the rounds pytest-benchmark
        sees (table, saved JSON, --benchmark-compare), its figures the saved metrics."""
        self.timer.load(self.benchmark, case)
        self.record(case)
        self._check_floors(case)
        return case

    def _check_floors(self, case: CaseResult) -> None:
        if self.hold_floors is not None and self.timer.timed:
            self.hold_floors(case.name, case.metrics())

    def progress(self, label: str):
        """A progress callback for a long load run, on pytest's terminal reporter (past the capture):
        rewritten in place on a terminal, a line every 10 s in a log."""
        from pytest_ascend_llm.serving.progress import ProgressLine

        line = ProgressLine(label, *run_clock.reporter_writer(self.config))

        def show(done: int, total: int, elapsed: float) -> None:
            line(done, total, elapsed)
            if done == total:
                line.close()

        return show

    def say(self, line: str) -> None:
        """One line on stderr now, past pytest's output capture (a long case's news as it happens)."""
        with run_clock.past_capture(self.config):
            print(line, file=sys.stderr, flush=True)

    def annotate(self, **values: object) -> None:
        """Add measurements taken around the case (e.g. its peak memory) to its saved metrics."""
        case = self.run.results.get(self.name)
        if case is not None:
            case.extra.update(values)
            self.record(case)

    def hold_floors_again(self) -> None:
        """Hold the fixed floors on the metrics annotated since the case ran (e.g. a ratio to its own rounds)."""
        case = self.run.results.get(self.name)
        if case is not None:
            self._check_floors(case)

    def record(self, case: CaseResult) -> None:
        """Store the case's flat metrics in the saved JSON and for the end-of-session table; a case run
        untimed is only counted."""
        if not self.timer.timed:
            self.run.unbenchmarked.append(self.name)
            return
        first = case.name not in self.run.results
        case.extra["case_wall_s"] = time.perf_counter() - self.started
        self.run.results[case.name] = case
        if first:
            stopped = case.extra.get("stopped_by")
            note = stopped["line"] if isinstance(stopped, dict) else ""
            run_clock.finished(self.run, case.name, case.extra["case_wall_s"], len(case.round_seconds), note)
        if self.timer.saves_to_benchmark:
            self.benchmark.extra_info["llm"] = case.metrics()


def power_figures(power, case: CaseResult) -> dict[str, object]:
    """Average board power over the case, energy per output token, and the samples for the timeline."""
    from pytest_ascend_llm.inventory.power import joules_per_token

    if power.mean_watts is None:
        return {"power": f"no power reading: {power.problem or 'no sample in time'}"}
    return {
        "power_w_mean": power.mean_watts,
        "power_samples_n": len(power.samples),
        "energy_j_per_token": joules_per_token(power.mean_watts, sum(case.round_seconds), sum(case.tokens_per_round)),
        "power_samples": [[round(t, 3), w] for t, w in power.samples],
    } | _usage_figures(power)


def _usage_figures(power) -> dict[str, object]:
    """Mean AICore and HBM-bandwidth utilisation over the case, where npu-smi offers them."""
    aicore = [a for _, a, _ in power.usages if a is not None]
    bandwidth = [b for _, _, b in power.usages if b is not None]
    figures: dict[str, object] = {}
    if aicore:
        figures["aicore_pct_mean"] = sum(aicore) / len(aicore)
    if bandwidth:
        figures["hbm_bandwidth_pct_mean"] = sum(bandwidth) / len(bandwidth)
    if power.usages:
        figures["usage_samples"] = [[round(t, 3), a, b] for t, a, b in power.usages]
    return figures


def guard_busy_device(llm: LLMSession) -> None:
    """A performance case on a card another process is using measures the sharing, not the stack."""
    action = llm.settings.busy_device
    reason = llm.busy_device_reason() if action != "ignore" else None
    if reason is None:
        return
    message = f"the device under test is not idle: {reason} (--llm-busy-device ignore to measure anyway)"
    if action == "fail":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
