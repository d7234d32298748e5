"""pytest glue only: options, markers, header, skips and session fixtures over ``LLMSession``.

Importing the package imports torch safely first (see ``pytest_ascend_llm/__init__.py``), so a
half-installed Ascend box gets a skip reason instead of a crashed pytest.
"""

from __future__ import annotations

import pytest

from pytest_ascend_llm.errors import LLMSetupError, is_out_of_memory, out_of_memory_line
from pytest_ascend_llm.session import MARKER_KINDS, LLMSession
from pytest_ascend_llm.settings import OPTIONS, Settings, collect_values

SESSION_KEY = pytest.StashKey[LLMSession]()
MODEL_FIXTURES = {"llm_engine", "llm_model", "llm_loaded", "llm_tokenizer", "llm_bench"}
MARKERS = {
    "npu": "the Ascend device suite: runs on an NPU, or wherever --llm-device names a device; skips otherwise",
    "cuda": "needs a CUDA GPU (or a device named with --llm-device)",
    "accelerator": "needs an NPU or GPU (or a device named with --llm-device)",
}


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
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    try:
        values = collect_values(lambda name: config.getoption(f"llm_{name}"), config.getini)
        config.stash[SESSION_KEY] = LLMSession(Settings.from_values(values))
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Resolve the device and check the model before any test runs: bad input is one line here."""
    try:
        session.config.stash[SESSION_KEY].open()
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    llm = config.stash.get(SESSION_KEY, None)
    if llm is None:
        return []
    env = llm.environment
    return [
        f"ascend-llm: device {llm.describe_device()}, model {llm.source.model_id} [{env.model_hash}], "
        f"dtype {llm.dtype_name}, engine {llm.settings.engine}",
        f"ascend-llm stack: {env.stack_summary()}" + (f"; NPU: {llm.npu_problem}" if llm.npu_problem else ""),
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    llm = config.stash[SESSION_KEY]
    for item in items:
        for marker in MARKER_KINDS:
            if item.get_closest_marker(marker) and not llm.runs_marker(marker):
                item.add_marker(pytest.mark.skip(reason=llm.skip_reason(marker)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Every test that touches the model runs under a memory monitor and reports its peak."""
    llm = item.config.stash.get(SESSION_KEY, None)
    if llm is None or not MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
        return (yield)
    from pytest_ascend_llm.devices.monitor import MemoryMonitor

    monitor = MemoryMonitor(llm.device)
    try:
        with monitor:
            return (yield)
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        pytest.fail(out_of_memory_line(llm.device, monitor.report, error), pytrace=False)
    finally:
        summary = monitor.report.summary()
        item.user_properties.append(("memory", summary))
        bench = getattr(item, "funcargs", {}).get("llm_bench")
        if bench is not None:
            bench.annotate(peak_memory_bytes=summary["peak_allocated_bytes"])


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    llm = config.stash.get(SESSION_KEY, None)
    if llm is not None and llm.capacity_plan is not None:
        from pytest_ascend_llm.planning.launch import sglang_command, shell_line

        terminalreporter.section("ascend-llm capacity plan for this device")
        for line in llm.capacity_plan.summary_lines():
            terminalreporter.write_line(line)
        command = sglang_command(llm.capacity_plan, str(llm.source.path), device=llm.device.kind)
        terminalreporter.write_line("SGLang: " + shell_line(command))
    if llm is not None and llm.load_count:
        loaded = llm.loaded
        terminalreporter.write_line(
            f"ascend-llm: model {llm.source.model_id} loaded {llm.load_count} time(s) on {llm.device} "
            f"in {loaded.load_seconds:.2f} s ({loaded.device_bytes_loaded / 2**20:.1f} MiB of weights)"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    llm = config.stash.get(SESSION_KEY, None)
    if llm is not None:
        llm.close()


def _setup_or_fail(action):
    """Run a loading step; a setup problem (OOM, unloadable weights) fails tests in one line."""
    try:
        return action()
    except LLMSetupError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def llm_session(request: pytest.FixtureRequest) -> LLMSession:
    """The run's LLMSession: settings, device, model and engine, shared by every test."""
    return request.config.stash[SESSION_KEY]


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
