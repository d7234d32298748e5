"""pytest glue only: options, markers, header, skips and session fixtures over ``LLMSession``.

A guest in every pytest run where it is installed: loading it imports pytest and the option parser,
nothing else, and a run that never asks for it sees no output, no files and no torch. The LLM
session wakes on first use: a test that requests an ``llm_*`` fixture or carries an
``npu``/``cuda``/``accelerator`` marker, an ``--llm-*`` option or ``ASCEND_LLM_*`` variable, or a
``--benchmark-compare`` against a run this plugin saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from pytest_ascend_llm import module_pins
from pytest_ascend_llm.errors import LLMSetupError, ModelLoadFailedEarlier
from pytest_ascend_llm.settings import OPTIONS, Settings, collect_values
from pytest_ascend_llm.units import format_bytes

if TYPE_CHECKING:
    from pytest_ascend_llm.session import LLMSession

MARKERS = {
    "npu": "the Ascend device suite: runs on an NPU, or wherever --llm-device names a device; skips otherwise",
    "cuda": "needs a CUDA GPU (or a device named with --llm-device)",
    "accelerator": "needs an NPU or GPU (or a device named with --llm-device)",
}
MODEL_FIXTURES = {"llm_engine", "llm_model", "llm_loaded", "llm_tokenizer", "llm_bench"}
LLM_FIXTURES = MODEL_FIXTURES | {"llm_session", "llm_env", "llm_device", "llm_memory"}


@dataclass
class PluginState:
    """The validated settings, and the LLM session once something asked for it."""

    settings: Settings
    given: tuple[str, ...]
    llm: LLMSession | None = None
    wake_failure: str | None = None
    header_shown: bool = False


STATE_KEY = pytest.StashKey[PluginState]()


def active_session(config: pytest.Config) -> LLMSession | None:
    """The LLM session if this run has woken it, without waking it."""
    state = config.stash.get(STATE_KEY, None)
    return state.llm if state is not None else None


def awaken(config: pytest.Config) -> LLMSession:
    """Open the LLM session (device, model check, torch import) once; raises LLMSetupError."""
    state = config.stash[STATE_KEY]
    if state.wake_failure is not None:
        raise LLMSetupError(state.wake_failure)
    if state.llm is None:
        module_pins.restore_pinned()
        from pytest_ascend_llm.session import LLMSession

        try:
            state.llm = LLMSession(state.settings).open()
        except LLMSetupError as error:
            state.wake_failure = str(error)
            raise
    return state.llm


def _awaken_or_usage_error(config: pytest.Config) -> LLMSession:
    try:
        return awaken(config)
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None


def _wants_llm(item: pytest.Item) -> bool:
    return bool(LLM_FIXTURES & set(getattr(item, "fixturenames", ()))) or any(
        item.get_closest_marker(marker) for marker in MARKERS
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ascend-llm", "LLM deployment checks (pytest-ascend-llm)")
    for option in OPTIONS:
        help_text = f"{option.help} [env {option.env}, ini {option.ini}]"
        if option.flag:
            group.addoption(option.cli, action="store_true", default=False, dest=f"llm_{option.name}", help=help_text)
            parser.addini(option.ini, option.help, type="bool", default=False)
        else:
            group.addoption(option.cli, default=None, dest=f"llm_{option.name}", help=help_text)
            parser.addini(option.ini, option.help, default=None)


def pytest_configure(config: pytest.Config) -> None:
    """Register markers and validate every option: cheap, and before anything heavy is imported."""
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    collected = collect_values(lambda name: config.getoption(f"llm_{name}"), config.getini)
    try:
        settings = Settings.from_values(collected.values, collected.sources)
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[STATE_KEY] = PluginState(settings, collected.given)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """An --llm-* option or ASCEND_LLM_* variable asks for the plugin: bad input is one line here."""
    if session.config.stash[STATE_KEY].given:
        _awaken_or_usage_error(session.config)


def _header_lines(llm: LLMSession) -> list[str]:
    env = llm.environment
    return [
        f"ascend-llm: device {llm.describe_device()}, model {llm.source.model_id} [{env.model_hash}], "
        f"dtype {llm.dtype_name}, engine {llm.settings.engine}",
        f"ascend-llm stack: {env.stack_summary()}" + (f"; NPU: {llm.npu_problem}" if llm.npu_problem else ""),
        f"ascend-llm host: {env.host_summary()}",
        f"ascend-llm roofline: {llm.roofline_basis()}",
    ] + _cards_line(llm)


def _cards_line(llm: LLMSession) -> list[str]:
    """What npu-smi / nvidia-smi says of the cards, or why it could not say (accelerators only)."""
    if llm.inventory is not None:
        return [f"ascend-llm cards: {llm.inventory.summary_line()}"]
    return [f"ascend-llm cards: unavailable ({llm.inventory_problem})"] if llm.inventory_problem else []


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[STATE_KEY]
    if state.llm is None:
        return []
    state.header_shown = True
    return _header_lines(state.llm)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any(_wants_llm(item) for item in items):
        _awaken_or_usage_error(config)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """The header of a session woken by its tests, printed once collection says what it woke for."""
    state = session.config.stash[STATE_KEY]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if state.llm is not None and not state.header_shown and reporter is not None:
        state.header_shown = True
        for line in _header_lines(state.llm):
            reporter.write_line(line)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip device-marked tests where that device is not in use, and model tests once the model failed
    to load (the first failure is the one error shown). Raised from here, each reason is one line for
    all the tests it covers in ``-rs`` (a skip mark would repeat it once per test)."""
    llm = active_session(item.config)
    if llm is None:
        return
    if llm.load_failure is not None and MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
        pytest.skip(str(ModelLoadFailedEarlier(llm.load_failure)))
    for marker in MARKERS:
        if item.get_closest_marker(marker) and not llm.runs_marker(marker):
            pytest.skip(llm.skip_reason(marker))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Every test that touches the model runs under a memory monitor and reports its peak."""
    llm = active_session(item.config)
    if llm is None or not MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
        return (yield)
    from pytest_ascend_llm.pytest_memory import monitored_call

    return (yield from monitored_call(item, llm))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    llm = active_session(config)
    if llm is None:
        return
    if llm.capacity_plan is not None:
        from pytest_ascend_llm.planning.launch import sglang_command, shell_line

        terminalreporter.section("ascend-llm capacity plan for this device")
        for line in llm.capacity_plan.summary_lines():
            terminalreporter.write_line(line)
        command = sglang_command(llm.capacity_plan, str(llm.source.path), device=llm.device.kind)
        terminalreporter.write_line("SGLang: " + shell_line(command))
    if llm.load_count:
        loaded = llm.loaded
        terminalreporter.write_line(
            f"ascend-llm: model {llm.source.model_id} loaded {llm.load_count} time(s) on {llm.device} "
            f"in {loaded.load_seconds:.2f} s ({format_bytes(loaded.device_bytes_loaded)} of weights)"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    llm = active_session(config)
    if llm is not None:
        llm.close()
        module_pins.pin_imported()


def _setup_or_fail(action):
    """Run a setup step; a setup problem fails the test in one line (no chained traceback), and a
    model that failed to load once is not retried: later tests skip with a pointer to the first error."""
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
