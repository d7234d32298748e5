"""The ``llm_*`` fixtures: thin handles on the session (device, model, engine), the run state, and the
``llm_bench`` case runner. A setup problem fails the test in one line; a model that failed to load once
is not retried, and later tests skip with a pointer to the first error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from pytest_ascend_llm.errors import LLMSetupError, ModelLoadFailedEarlier
from pytest_ascend_llm.plugin import benchmark_adapter as adapter
from pytest_ascend_llm.plugin import run_clock
from pytest_ascend_llm.plugin.bench import LLMBench, guard_busy_device
from pytest_ascend_llm.plugin.state import STATE_KEY, RunState, awaken, stable_name

if TYPE_CHECKING:
    from pytest_ascend_llm.session import LLMSession


def _setup_or_fail(action):
    """Run a setup step; a setup problem fails the test in one line (no chained traceback)."""
    try:
        return action()
    except ModelLoadFailedEarlier as error:
        message, skip = str(error), True
    except LLMSetupError as error:
        message, skip = str(error), False
    if skip:
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def llm_session(request: pytest.FixtureRequest) -> LLMSession:
    """The run's LLMSession: settings, device, model and engine, shared by every test."""
    return _setup_or_fail(lambda: awaken(request.config))


@pytest.fixture(scope="session")
def llm_run(request: pytest.FixtureRequest, llm_session: LLMSession) -> RunState:
    """What this run measured so far: ``results`` (cases by name), the capacity plan, model tests' stderr."""
    return request.config.stash[STATE_KEY].run


@pytest.fixture(scope="session")
def llm_env(llm_session: LLMSession):
    """The environment and stack (EnvironmentInfo; ``.to_dict()`` is JSON-ready)."""
    return llm_session.environment


@pytest.fixture(scope="session")
def llm_device(llm_session: LLMSession):
    """The device handle: synchronize, memory counters, a device-synchronized timer."""
    return llm_session.device


@pytest.fixture(scope="session")
def llm_loaded(llm_session: LLMSession):
    """The loaded model with its load statistics (LoadedModel)."""
    if llm_session.model_in_engine:
        engine = llm_session.settings.engine
        pytest.skip(f"the {engine} engine holds the model itself: checks of a transformers copy do not apply")
    return _setup_or_fail(lambda: llm_session.loaded)


@pytest.fixture(scope="session")
def llm_model(llm_loaded):
    """The transformers model on the device, loaded once per session."""
    return llm_loaded.model


@pytest.fixture(scope="session")
def llm_tokenizer(llm_loaded):
    """The model's tokenizer (left padding, pad token set)."""
    return llm_loaded.tokenizer


@pytest.fixture
def llm_memory(llm_device):
    """``with llm_memory() as monitor: ...`` samples device/host memory; ``monitor.report`` has the peaks."""
    from pytest_ascend_llm.devices.monitor import MemoryMonitor

    return lambda interval=0.01: MemoryMonitor(llm_device, interval)


@pytest.fixture(scope="session")
def llm_engine(llm_session: LLMSession):
    """The inference engine chosen with --llm-engine, over the session's model."""
    return _setup_or_fail(lambda: llm_session.engine)


@pytest.fixture
def llm_bench(benchmark, llm_session: LLMSession, request: pytest.FixtureRequest) -> Iterator[LLMBench]:
    """``llm_bench(work, tokens=...)``: a pytest-benchmark case with P50–P99, tokens/s and TTFT/TPOT/ITL."""
    guard_busy_device(llm_session)
    state = request.config.stash[STATE_KEY]
    name = stable_name(request.node)
    run_clock.refuse_when_spent(state.run, name, benchmark)
    from pytest_ascend_llm.plugin.gate import hold_floors

    yield LLMBench(
        benchmark,
        llm_session,
        name,
        state.tracked_percentile,
        request.config,
        run=state.run,
        timer=state.timer,
        hold_floors=lambda case, metrics: hold_floors(state, case, metrics),
    )
    _quiet_if_interrupted(request, benchmark, "llm_bench")


def _quiet_if_interrupted(request: pytest.FixtureRequest, benchmark, fixture: str) -> None:
    """Ctrl-C ended this case before it handed pytest-benchmark any rounds; the fixture's teardown (at
    session finish, after the interrupt) would otherwise warn that it was never used. A session a hook
    caller built by hand (pytester's getitem) may have no exitstatus: then nothing was interrupted."""
    if getattr(request.session, "exitstatus", None) == pytest.ExitCode.INTERRUPTED:
        adapter.mark_used(benchmark, f"{fixture}(...), interrupted")


@pytest.fixture
def llm_outputs(benchmark, llm_session: LLMSession, request: pytest.FixtureRequest):
    """``llm_outputs.fingerprint(fp, mode, seconds)``: save a case's outputs and compare them with the
    compared run's (and, in a run of both graph modes, compiled with eager)."""
    from pytest_ascend_llm.plugin.outputs import LLMOutputs

    yield LLMOutputs(benchmark, request.config, request.config.stash[STATE_KEY], stable_name(request.node))
    _quiet_if_interrupted(request, benchmark, "llm_outputs")


@pytest.fixture(scope="session")
def llm_measured_bandwidth(llm_session: LLMSession) -> float:
    """The device's achieved copy bandwidth (bytes/s), measured once, in fixture setup: outside any
    test's memory monitor, so no case's peak memory includes the measurement's buffers."""
    return llm_session.measured_bandwidth
