"""The run's clock in pytest: the --llm-max-minutes bound, the length estimate before the first timed
case, and one progress line after each (``benchmarking.run_length`` does the arithmetic).

Lines are written past pytest's output capture, so a long run says where it is while it runs. Under
pytest-xdist each worker sees only its own share, so the estimate and progress lines are left out there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import pytest

from pytest_ascend_llm.plugin.state import PluginState, RunState, stable_name


def start(state: PluginState) -> None:
    """At session start: the run's bound counts from here."""
    from pytest_ascend_llm.benchmarking.bounds import run_bound

    state.run.run_bound = run_bound(state.settings.max_minutes, time.perf_counter())


def timed_cases(items: list[pytest.Item]) -> list[str]:
    """The collected tests that time rounds through ``llm_bench``, in run order."""
    return [stable_name(item) for item in items if "llm_bench" in getattr(item, "fixturenames", ())]


def plan(session: pytest.Session, state: PluginState) -> None:
    """After collection: the run's timed cases, and the estimate line where a compared run has durations."""
    config = session.config
    if state.llm is None or hasattr(config, "workerinput") or not state.timer or not state.timer.timed:
        return
    cases = timed_cases(getattr(session, "items", []))
    if not cases:
        return
    from pytest_ascend_llm.benchmarking.run_length import RunLength
    from pytest_ascend_llm.plugin import benchmark_adapter as adapter

    state.run.length = RunLength.from_compared(cases, adapter.compared_cases(config))
    soak = next((name for name in cases if name.endswith("::test_soak")), None)
    if soak is not None and state.settings.soak_seconds is not None:  # its length is asked, not estimated
        state.run.length.expected = {**state.run.length.expected, soak: state.settings.soak_seconds}
    opening = state.run.length.opening()
    if opening is not None:
        write_now(config, _with_bound(opening, state.run))


def _with_bound(line: str, run: RunState) -> str:
    bound = run.run_bound
    return f"{line}; bounded by {bound.option}" if bound is not None else line


def past_capture(config: pytest.Config | None) -> AbstractContextManager:
    """Output capture off for the block, so a line written from inside a running test shows now (pytest's
    capture manager; nothing to switch off without one)."""
    capture = config.pluginmanager.getplugin("capturemanager") if config is not None else None
    return capture.global_and_fixture_disabled() if capture is not None else nullcontext()


def write_now(config: pytest.Config | None, line: str) -> None:
    """A line on the terminal now, also from inside a running test (past the output capture)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter") if config is not None else None
    if reporter is None:
        return
    with past_capture(config):
        _end_line(reporter)
        reporter.write_line(line)


def reporter_writer(config: pytest.Config | None) -> tuple[Callable[[str, bool], None] | None, bool | None]:
    """(write, tty) for a progress line on the terminal reporter, past the output capture; (None,
    None) without a reporter (plain stderr then)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter") if config is not None else None
    if reporter is None:
        return None, None

    def write(text: str, in_place: bool) -> None:
        with past_capture(config):
            if in_place:
                reporter.rewrite(text, erase=True)
            elif text:
                _end_line(reporter)
                reporter.write_line(text)
            else:
                reporter.write("\n")

    return write, bool(reporter.isatty())


def refuse_when_spent(run: RunState, name: str, benchmark) -> None:
    """A timed case that would start after the run's bound is skipped, and the gate hears why."""
    bound = run.run_bound
    if bound is None or not bound.passed():
        return
    from pytest_ascend_llm.plugin import benchmark_adapter as adapter

    reason = f"{bound.option} was spent before this case started: not run"
    run.bounded_out[name] = reason
    adapter.mark_used(benchmark, "skipped: the run's bound was spent")
    pytest.skip(reason)


def after_warmup(config: pytest.Config | None, run: RunState, rounds_needed: int, warmup: int):
    """The callback a case's rounds call after warm-up: the first case prints the run's estimate."""

    def heard(warmed: list[float]) -> None:
        length = run.length
        line = length.from_first_warmup(warmed, rounds_needed, warmup) if length is not None else None
        if line is not None:
            write_now(config, _with_bound(line, run))

    return heard


def finished(run: RunState, name: str, seconds: float, rounds: int | None, note: str = "") -> None:
    """A timed case is done: its progress line waits for the test's report, so it follows PASSED/FAILED."""
    length = run.length
    if length is None or name not in length.cases:
        return
    length.finish(name, seconds)
    run.progress.append(length.progress(name, seconds, rounds, note))


def after_test(config: pytest.Config, run: RunState, name: str) -> None:
    """Once a test's reports are out: its progress line, and a timed case that never finished (skipped,
    failed before it measured) leaves the estimate."""
    if run.length is not None and name in run.length.cases and name not in run.length.done:
        run.length.drop(name)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    while run.progress and reporter is not None:
        _end_line(reporter)
        reporter.write_line(run.progress.pop(0))


def _end_line(reporter) -> None:
    """End the line of progress dots, also when pytest no longer knows it has one open (a line written
    from inside a test resets what its ``ensure_newline`` checks)."""
    reporter.ensure_newline()
    if getattr(getattr(reporter, "_tw", None), "width_of_current_line", 0):
        reporter.write("\n")
