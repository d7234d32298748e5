"""The tail-latency gate at the end of a session: this run's cases against the compared run.

The method is ``benchmarking.gate``; here it meets pytest: which cases this process can see (its own,
or on an xdist controller the workers' records), the session's exit status, and the summary line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_ascend_llm.plugin import benchmark_adapter as adapter
from pytest_ascend_llm.plugin.state import PluginState

if TYPE_CHECKING:
    from pytest_ascend_llm.benchmarking.gate import GateRule, Verdict


def check_rules(config: pytest.Config, state: PluginState) -> None:
    if state.settings.compare_fail and not config.getoption("benchmark_compare", None):
        raise pytest.UsageError("--llm-compare-fail needs a run to compare with: add --benchmark-compare[=NUM]")


def tracked_percentile_of(config: pytest.Config, rules: tuple[GateRule, ...]) -> float:
    """The round-time percentile this run's adaptive rounds pin down (the gate's, or what a save needs)."""
    from pytest_ascend_llm.benchmarking.adaptive import tracked_percentile
    from pytest_ascend_llm.benchmarking.gate import per_round_percentiles

    saved = any(config.getoption(name, None) for name in ("benchmark_save", "benchmark_autosave"))
    compared = bool(config.getoption("benchmark_compare", None))
    return tracked_percentile(per_round_percentiles(rules), saved, compared, bool(rules))


def measured_cases(state: PluginState) -> dict[str, dict]:
    """Case name → saved metrics (with samples), from wherever this process can see them."""
    if state.llm is not None and state.run.results:
        return {name: case.metrics() for name, case in state.run.results.items()}
    records = state.recorder.records if state.recorder is not None else []
    return {r["case"]: r["metrics"] for r in records if r.get("kind") == "test" and r.get("metrics")}


def gate_verdicts(config: pytest.Config, state: PluginState) -> list[Verdict]:
    """The gate's verdicts for this session, computed once (the JSON report may ask before the gate
    is applied)."""
    if state.run.verdicts is None:
        rules = state.settings.compare_fail
        current = measured_cases(state)
        if not rules or not (current or state.run.bounded_out):
            return []
        from pytest_ascend_llm.benchmarking.gate import apply_gate

        verdicts = apply_gate(current, adapter.compared_cases(config), list(rules))
        state.run.verdicts = [_bounded_out(verdict, state.run.bounded_out) for verdict in verdicts]
    return state.run.verdicts


def _bounded_out(verdict: Verdict, bounded_out: dict[str, str]) -> Verdict:
    """A case a bound kept from running is inconclusive, not merely missing: the run was cut short."""
    from dataclasses import replace

    from pytest_ascend_llm.benchmarking.gate import INCONCLUSIVE

    reason = bounded_out.get(verdict.case)
    if reason is None:
        return verdict
    return replace(verdict, verdict=INCONCLUSIVE, note=f"{reason}; a run without the bound would decide it")


def load_floors(state: PluginState) -> None:
    """--llm-floors, read now: a bad file stops the run in one line before anything is measured."""
    if state.settings.floors is None:
        return
    from pytest_ascend_llm.benchmarking.floors import load_floors as read
    from pytest_ascend_llm.errors import LLMSetupError

    try:
        state.floors = read(state.settings.floors)
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None


def floor_breaches(state: PluginState, case_name: str, metrics: dict) -> list[str]:
    """The fixed floors (--llm-floors) this case breaks, or cannot be checked against, each one line."""
    if state.floors is None:
        return []
    from pytest_ascend_llm.benchmarking.floors import check_floors

    device = state.llm.device.name() if state.llm is not None else None
    return [breach.message for breach in check_floors(state.floors, case_name, device, metrics)]


def hold_floors(state: PluginState, case_name: str, metrics: dict) -> None:
    """Fail the running case, with the measured value, the floor and its file line, if it breaks one."""
    breaches = floor_breaches(state, case_name, metrics)
    if breaches:
        pytest.fail("below its floor: " + "; ".join(breaches), pytrace=False)


class _GateOutcome:
    """An entry in pytest's summary statistics, so the session's last line names the gate's failures."""

    count_towards_summary = True


def apply_to_session(session: pytest.Session, state: PluginState, exitstatus: int) -> int:
    """A clear regression fails the session, and so does an uncompared case under --llm-compare-strict;
    returns the session's exit status. ``exitstatus`` is the hook's argument: a caller of the hook (pytester's
    ``getitem``) may never have set ``session.exitstatus``."""
    from pytest_ascend_llm.benchmarking.gate import NOT_COMPARED

    config = session.config
    verdicts = gate_verdicts(config, state)
    strict = state.settings.compare_strict
    failing = [v for v in verdicts if v.fails or (v.verdict == NOT_COMPARED and strict)]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if failing and reporter is not None:
        regressed = sum(v.fails for v in verdicts)
        if regressed:
            reporter.stats.setdefault("regressed (gate)", []).extend(_GateOutcome() for _ in range(regressed))
        if len(failing) > regressed:
            uncompared = [_GateOutcome() for _ in range(len(failing) - regressed)]
            reporter.stats.setdefault("not compared (strict gate)", []).extend(uncompared)
    if failing and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = exitstatus = pytest.ExitCode.TESTS_FAILED
    return int(exitstatus)
