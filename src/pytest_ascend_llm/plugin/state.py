"""The bottom of the pytest layer: what one pytest run holds, in its ``config.stash``.

The settings are validated at configure time; the ``LLMSession`` (device, model, engine) opens on first
use (``awaken``); ``RunState`` is what the run measured and saw, written by the pytest layer and by the
shipped tests (through the ``llm_run`` fixture) — never by the session, which only holds resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_ascend_llm import module_pins
from pytest_ascend_llm.errors import LLMSetupError

if TYPE_CHECKING:
    from pytest_ascend_llm.benchmarking.bounds import Bound
    from pytest_ascend_llm.benchmarking.floors import Floors
    from pytest_ascend_llm.benchmarking.gate import Verdict
    from pytest_ascend_llm.benchmarking.results import CaseResult
    from pytest_ascend_llm.benchmarking.run_length import RunLength
    from pytest_ascend_llm.plugin.results import ResultsRecorder
    from pytest_ascend_llm.plugin.timers import Timer
    from pytest_ascend_llm.session import LLMSession
    from pytest_ascend_llm.settings import Settings


@dataclass
class RunState:
    """What this run measured and saw: cases by stable name, cases run untimed, model tests' stderr
    (torch_npu's CPU-fallback warnings), the capacity plan a check made, and the gate's verdicts."""

    results: dict[str, CaseResult] = field(default_factory=dict)
    unbenchmarked: list[str] = field(default_factory=list)
    stderr_seen: list[str] = field(default_factory=list)
    capacity_plan: Any = None
    verdicts: list[Verdict] | None = None
    outputs: dict[str, dict] = field(default_factory=dict)  # case → fingerprints by graph mode, drift, accuracy
    compared_stack: dict | None = None  # the stack saved with the compared run (--benchmark-compare)
    changes: dict | None = None  # what differs between the compared run and this one
    header_shown: bool = False
    session_sent: bool = False  # the first record of this process carries the environment
    run_bound: Bound | None = None  # --llm-max-minutes, from the session's start
    length: RunLength | None = None  # the timed cases' estimate and progress (not under xdist)
    progress: list[str] = field(default_factory=list)  # progress lines waiting for the test's report
    bounded_out: dict[str, str] = field(default_factory=dict)  # case → why a bound kept it from running


@dataclass
class PluginState:
    """The validated settings, whether this run asked for the plugin, and the session once opened."""

    settings: Settings
    asked: bool
    tracked_percentile: float
    run: RunState = field(default_factory=RunState)
    llm: LLMSession | None = None
    wake_failure: str | None = None
    recorder: ResultsRecorder | None = None
    timer: Timer | None = None
    floors: Floors | None = None  # --llm-floors, read and checked at configure time


STATE_KEY = pytest.StashKey[PluginState]()
COMMAND_LINE_KEY = pytest.StashKey[tuple[str, ...]]()  # the arguments with addopts, before conftests load
TIMELINE_KEY = pytest.StashKey[list]()  # a test's memory timeline, set by the memory monitor


def plugin_state(config: pytest.Config) -> PluginState | None:
    return config.stash.get(STATE_KEY, None)


def active_session(config: pytest.Config) -> LLMSession | None:
    """The LLM session if this run has woken it, without waking it."""
    state = plugin_state(config)
    return state.llm if state is not None else None


def awaken(config: pytest.Config) -> LLMSession:
    """Open the LLM session (device, model check, torch import) once; raises LLMSetupError."""
    state = config.stash[STATE_KEY]
    if state.wake_failure is not None:
        raise LLMSetupError(state.wake_failure)
    if state.llm is None:
        from pytest_ascend_llm.preflight import check_before_torch

        try:
            warnings = check_before_torch(state.settings)  # before torch loads: a typo costs no import
            module_pins.restore_pinned()
            from pytest_ascend_llm.session import LLMSession

            state.llm = LLMSession(state.settings).open(warnings)
        except LLMSetupError as error:
            state.wake_failure = str(error)
            raise
    return state.llm


def awaken_or_usage_error(config: pytest.Config) -> LLMSession:
    try:
        return awaken(config)
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None


def stable_name(item: pytest.Item) -> str:
    """Module and test name, independent of where the package is installed: saved runs from different
    virtual environments (one per stack) line up in --benchmark-compare."""
    module = getattr(item, "module", None)
    return f"{module.__name__ if module else item.path.stem}::{item.name}"


def command_line(config: pytest.Config) -> tuple[str, ...]:
    """The run's arguments as pytest saw them before conftests loaded (addopts included)."""
    return config.stash.get(COMMAND_LINE_KEY, None) or tuple(map(str, config.invocation_params.args))
