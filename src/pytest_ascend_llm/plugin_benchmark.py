"""pytest glue for the performance cases: the ``llm_bench`` fixture over pytest-benchmark, the stack in
``machine_info``, a one-line stack diff on compare, the tail-latency gate and the percentile table.

Ordinary pytest-benchmark users see no change: everything here acts only once an LLM session is awake
(or when the compared run was saved by one), and nothing heavy is imported before that.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

import pytest

from pytest_ascend_llm.benchmarking.gate import NOT_COMPARED, GateRule, apply_gate, parse_rule
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.plugin import active_session, awaken
from pytest_ascend_llm.settings import truthy

if TYPE_CHECKING:
    from pytest_ascend_llm.benchmarking.results import CaseResult
    from pytest_ascend_llm.session import LLMSession

RULES_KEY = pytest.StashKey[list[GateRule]]()
VERDICTS_KEY = pytest.StashKey[list]()
TRACKED_KEY = pytest.StashKey[float]()
GENERIC_WARNING = "Benchmark machine_info is different"
COMPACT_COLUMNS = ["min", "median", "max", "rounds"]  # our own table has the percentiles


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("ascend-llm").addoption(
        "--llm-compare-fail",
        action="append",
        default=[],
        metavar="METRIC:LIMIT",
        help="fail when a case regressed against --benchmark-compare: p95:10%% (relative) or p95:0.05 (seconds); "
        "metrics p50..p99, ttft_*, tpot_*, itl_*; repeatable [env ASCEND_LLM_COMPARE_FAIL, comma-separated]",
    )
    parser.getgroup("ascend-llm").addoption(
        "--llm-compare-strict",
        action="store_true",
        default=False,
        help="with --llm-compare-fail: a case that could not be compared (missing from a run, too few samples, "
        "NaN) fails the session too [env ASCEND_LLM_COMPARE_STRICT]",
    )


def pytest_configure(config: pytest.Config) -> None:
    texts = config.getoption("llm_compare_fail") or [
        part for part in os.environ.get("ASCEND_LLM_COMPARE_FAIL", "").split(",") if part.strip()
    ]
    try:
        config.stash[RULES_KEY] = [parse_rule(text) for text in texts]
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None
    if config.stash[RULES_KEY] and not config.getoption("benchmark_compare", None):
        raise pytest.UsageError("--llm-compare-fail needs a run to compare with: add --benchmark-compare[=NUM]")
    config.stash[TRACKED_KEY] = tracked_percentile(config.stash[RULES_KEY], _saves_or_compares(config))


def _saves_or_compares(config: pytest.Config) -> bool:
    return any(config.getoption(name, None) for name in ("benchmark_save", "benchmark_autosave", "benchmark_compare"))


def tracked_percentile(rules: list[GateRule], saved_for_comparison: bool) -> float:
    """The round-time percentile adaptive rounds pin down: the highest one gated, P95 for runs saved or
    compared (a later gate needs it resolved), else the median."""
    gated = [float(rule.statistic[1:]) for rule in rules if rule.prefix == "" and rule.statistic != "mean"]
    return max(gated, default=95.0 if saved_for_comparison else 50.0)


def stable_name(item: pytest.Item) -> str:
    """Module and test name, independent of where the package is installed: saved runs from different
    virtual environments (one per stack) line up in --benchmark-compare."""
    module = getattr(item, "module", None)
    return f"{module.__name__ if module else item.path.stem}::{item.name}"


class LLMBench:
    """Runs one case through pytest-benchmark with device-synchronized rounds and records tail metrics.

    With ``--benchmark-disable`` a case runs once, untimed, as a correctness check: its assertions
    still run, and it reports no latency figures. Under pytest-xdist, where pytest-benchmark switches
    itself off, the rounds are timed here instead (same policy, same statistics, results file, report
    and gate), without pytest-benchmark's table and JSON."""

    def __init__(self, benchmark, llm: LLMSession, name: str, percentile: float = 50, config=None) -> None:
        self.benchmark = benchmark
        self.config = config
        self.llm = llm
        self.name = name
        benchmark.fullname = name
        self.policy = llm.round_policy(percentile)
        self.rounds, self.warmup = llm.settings.rounds, llm.bench_warmup()
        switched_off = bool(getattr(benchmark, "disabled", False))
        self.own_timing = switched_off and config is not None and hasattr(config, "workerinput")
        self.disabled = switched_off and not self.own_timing
        if self.own_timing:
            benchmark._mode = "llm_bench(...) under xdist"  # used: no "fixture not used" warning
        elif self.policy is not None and not hasattr(benchmark, "_make_stats"):
            self.policy, self.rounds = None, self.policy.floor  # a pytest-benchmark without the seam

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
        power = self.llm.power_sampler() if not self.disabled else None
        with power or nullcontext():
            case = self._measure(log, setup, extra)
        if power is not None:
            case.extra |= power_figures(power, case)
        contention = None
        if self.llm.device.kind == "cpu":
            from pytest_ascend_llm.torch_backend import torch

            contention = cpu_share(case.round_seconds, case.round_cpu_seconds, torch.get_num_threads())
        case.extra["noise"] = noise_notes(case.round_seconds, [load_before, load_average()], contention)
        self.record(case)
        return case

    def _measure(self, log, setup: Callable[[], None] | None, extra: dict | None) -> CaseResult:
        """The rounds, by whichever timer this run has (pytest-benchmark, our own under xdist, or once)."""
        if self.disabled:  # pytest-benchmark's pedantic then runs setup and the round once, untimed
            seconds: list[float] = []
            self.benchmark.pedantic(lambda: seconds.append(log.timed_round()), setup=setup)
            self.llm.unbenchmarked.append(self.name)
            return log.case(self.name, seconds, extra)
        if self.own_timing:
            seconds = log.run(setup, self.warmup, self.policy.wants_more if self.policy else self._fixed_rounds)
        elif self.policy is None:
            prepare = log.before_round(setup)
            self.benchmark.pedantic(log.round, setup=prepare, rounds=self.rounds, warmup_rounds=self.warmup)
            seconds = self.benchmark.stats.stats.data
        else:
            seconds = self._adaptive_rounds(log, setup)
        return log.case(self.name, seconds, extra)

    def _fixed_rounds(self, seconds: list[float]) -> bool:
        return len(seconds) < self.rounds

    def _adaptive_rounds(self, log, setup: Callable[[], None] | None) -> list[float]:
        """Rounds until the policy is satisfied, handed to pytest-benchmark as its stats (its ``pedantic``
        takes a fixed count), so its table, JSON and --benchmark-compare see them like any others."""
        seconds = log.run(setup, self.warmup, self.policy.wants_more)
        stats = self.benchmark._make_stats(1)
        for value in seconds:
            stats.update(value)
        self.benchmark._mode = "llm_bench(...)"  # the fixture was used: no "not used at all" warning
        return seconds

    def record_load(self, case: CaseResult) -> CaseResult:
        """A serving load run as this case: its per-request E2E latencies become pytest-benchmark's
        stats (table, saved JSON, --benchmark-compare), its figures the saved metrics."""
        if self.disabled:
            self.benchmark.pedantic(lambda: None)
            self.llm.unbenchmarked.append(self.name)
            return case
        if not self.own_timing and hasattr(self.benchmark, "_make_stats") and case.round_seconds:
            stats = self.benchmark._make_stats(1)
            for value in case.round_seconds:
                stats.update(value)
            self.benchmark._mode = "llm_bench.record_load(...)"
        self.record(case)
        return case

    def progress(self, label: str):
        """A progress callback for a long load run, shown past pytest's output capture."""
        from pytest_ascend_llm.serving.progress import ProgressLine

        line = ProgressLine(label)
        capture = self.config.pluginmanager.getplugin("capturemanager") if self.config else None

        def show(done: int, total: int, elapsed: float) -> None:
            if capture is None:
                line(done, total, elapsed)
                return
            with capture.global_and_fixture_disabled():
                line(done, total, elapsed)
                if done == total:
                    line.close()

        return show

    def annotate(self, **values: object) -> None:
        """Add measurements taken around the case (e.g. its peak memory) to its saved metrics."""
        case = self.llm.results.get(self.name)
        if case is not None:
            case.extra.update(values)
            self.record(case)

    def record(self, case: CaseResult) -> None:
        """Store the case's flat metrics in the saved JSON and for the end-of-session table."""
        if self.disabled:
            return
        self.llm.results[case.name] = case
        if not self.own_timing:
            self.benchmark.extra_info["llm"] = case.metrics()


@pytest.fixture
def llm_bench(benchmark, llm_session: LLMSession, request: pytest.FixtureRequest) -> LLMBench:
    """``llm_bench(work, tokens=...)``: a pytest-benchmark case with P50–P99, tokens/s and TTFT/TPOT/ITL."""
    _guard_busy_device(llm_session)
    return LLMBench(
        benchmark, llm_session, stable_name(request.node), request.config.stash[TRACKED_KEY], request.config
    )


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


def _guard_busy_device(llm: LLMSession) -> None:
    """A performance case on a card another process is using measures the sharing, not the stack."""
    action = llm.settings.busy_device
    reason = llm.busy_device_reason() if action != "ignore" else None
    if reason is None:
        return
    message = f"the device under test is not idle: {reason} (--llm-busy-device ignore to measure anyway)"
    if action == "fail":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def llm_measured_bandwidth(llm_session: LLMSession) -> float:
    """The device's achieved copy bandwidth (bytes/s), measured once, in fixture setup: outside any
    test's memory monitor, so no case's peak memory includes the measurement's buffers."""
    return llm_session.measured_bandwidth


def pytest_report_header(config: pytest.Config) -> list[str]:
    llm = active_session(config)
    if llm is None or not config.pluginmanager.hasplugin("benchmark"):
        return []
    policy = llm.round_policy(config.stash[TRACKED_KEY])
    rounds = policy.describe() if policy else f"{llm.settings.rounds} timed rounds (--llm-rounds)"
    return [
        f"ascend-llm benchmark: {rounds}, after {llm.bench_warmup()} warm-up round(s) per llm_bench case; "
        "pytest-benchmark's min_rounds/warmup defaults above do not apply to them"
    ]


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    llm = active_session(config)
    if llm is not None:
        machine_info["llm_stack"] = llm.environment.to_dict()


@contextmanager
def _without_generic_warning(benchmarksession) -> Iterator[None]:
    """pytest-benchmark warns with two whole machine_info dumps; we say what changed instead."""
    logger = benchmarksession.logger
    original = logger.warning

    def warning(text, *args, **kwargs):
        if not str(text).startswith(GENERIC_WARNING):
            original(text, *args, **kwargs)

    logger.warning = warning
    try:
        yield
    finally:
        logger.warning = original


@pytest.hookimpl(optionalhook=True, wrapper=True)
def pytest_benchmark_compare_machine_info(config, benchmarksession, machine_info, compared_benchmark):
    """Against a run saved with this plugin, print one line of stack changes instead of pytest-benchmark's
    two machine_info dumps. Any other comparison is left exactly as pytest-benchmark does it."""
    saved = compared_benchmark.get("machine_info", {}).get("llm_stack")
    if saved is None:
        return (yield)
    try:
        llm = awaken(config)  # comparing with an LLM run: this run is one too
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None
    machine_info["llm_stack"] = llm.environment.to_dict()
    with _without_generic_warning(benchmarksession):
        result = yield
    changes = llm.environment.differences(saved)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if changes and reporter is not None:
        reporter.write_line("ascend-llm: stack changed since the compared run: " + ", ".join(changes), yellow=True)
    return result


def _baseline(config: pytest.Config) -> dict[str, dict]:
    benchmarksession = getattr(config, "_benchmarksession", None)
    mapping = getattr(benchmarksession, "compared_mapping", None) or {}
    baseline: dict[str, dict] = {}
    for benches in mapping.values():
        for fullname, bench in benches.items():
            baseline[fullname] = bench.get("extra_info", {}).get("llm", {})
    return baseline


class _GateOutcome:
    """An entry in pytest's summary statistics, so the session's last line names the gate's failures."""

    count_towards_summary = True


def _strict(config: pytest.Config) -> bool:
    return config.getoption("llm_compare_strict") or truthy(os.environ.get("ASCEND_LLM_COMPARE_STRICT"))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Apply the tail-latency gate (a clear regression fails the session, and so does an uncompared case
    under --llm-compare-strict); keep pytest-benchmark's table of LLM cases narrow, since ours carries
    the percentiles."""
    config = session.config
    llm = active_session(config)
    if llm is not None and llm.results:
        from pytest_ascend_llm.benchmarking.noise import load_average

        llm.environment.load_average_1m_end = load_average()  # before pytest-benchmark saves machine_info
        benchmarksession = getattr(config, "_benchmarksession", None)
        if benchmarksession is not None and not config.getoption("benchmark_columns", None):
            benchmarksession.columns = COMPACT_COLUMNS
    verdicts = gate_verdicts(config)
    if not verdicts:
        return
    failing = [v for v in verdicts if v.fails or (v.verdict == NOT_COMPARED and _strict(config))]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if failing and reporter is not None:
        regressed = sum(v.fails for v in verdicts)
        if regressed:
            reporter.stats.setdefault("regressed (gate)", []).extend(_GateOutcome() for _ in range(regressed))
        if len(failing) > regressed:
            uncompared = [_GateOutcome() for _ in range(len(failing) - regressed)]
            reporter.stats.setdefault("not compared (strict gate)", []).extend(uncompared)
    if failing and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def gate_verdicts(config: pytest.Config) -> list:
    """The gate's verdicts for this session, computed once (the JSON report may ask before the gate
    hook). Cases come from this process's session, or, on an xdist controller, from the records the
    workers sent."""
    if VERDICTS_KEY not in config.stash:
        rules = config.stash.get(RULES_KEY, [])
        current = measured_cases(config)
        if not current or not rules:
            return []
        config.stash[VERDICTS_KEY] = apply_gate(current, _baseline(config), rules)
    return config.stash[VERDICTS_KEY]


def measured_cases(config: pytest.Config) -> dict[str, dict]:
    """Case name → saved metrics (with samples), from wherever this process can see them."""
    llm = active_session(config)
    if llm is not None and llm.results:
        return {name: case.metrics() for name, case in llm.results.items()}
    recorder = config.pluginmanager.get_plugin("ascend-llm-results-recorder")
    records = getattr(recorder, "records", [])
    return {r["case"]: r["metrics"] for r in records if r.get("kind") == "test" and r.get("metrics")}


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """The latency table (on an xdist controller, from the workers' records) and the gate's verdicts."""
    llm = active_session(config)
    if llm is not None and llm.unbenchmarked:
        terminalreporter.write_line(
            f"ascend-llm: benchmarking is off (--benchmark-disable): {len(llm.unbenchmarked)} "
            "performance case(s) ran once as correctness checks, without latency figures"
        )
    cases = measured_cases(config)
    if not cases:
        return
    from pytest_ascend_llm.benchmarking.table import latency_table

    noisy = [name for name, metrics in cases.items() if metrics.get("noise")]
    if noisy:
        terminalreporter.write_line(
            f"ascend-llm: warning: {len(noisy)} of {len(cases)} cases ran on a busy host or scattered "
            "(see their 'host noise' column): rerun on an idle host, or lower --llm-cpu-threads",
            yellow=True,
        )

    terminalreporter.section("ascend-llm latency tails (device-synchronized rounds)")
    for line in latency_table({name.split("::")[-1]: metrics for name, metrics in cases.items()}):
        terminalreporter.write_line(line)
    if llm is not None and "measured_bandwidth" in vars(llm):  # measured only when a decode case ran
        terminalreporter.write_line(
            f"roofline: {llm.device.name()} measured copy bandwidth {llm.measured_bandwidth / 1e9:.1f} GB/s; "
            f"{llm.roofline_basis()}. MBU = bytes a decode step must read / step time / bandwidth"
        )
    verdicts = config.stash.get(VERDICTS_KEY, [])
    if verdicts:
        from pytest_ascend_llm.benchmarking.table import verdict_table

        failed = any(v.fails for v in verdicts)
        terminalreporter.section("ascend-llm: tail-latency gate against the compared run", red=failed, green=not failed)
        for line in verdict_table(verdicts):
            terminalreporter.write_line(line, red=" regressed " in line)
