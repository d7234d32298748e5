"""The plugin's one pytest11 entry point: every hook, each a few lines over the modules beside it.

A guest in every pytest run where it is installed: loading it imports pytest and the option parser,
nothing else, and a run that never asks for it sees no output, no files and no torch. The LLM session
wakes on first use: a test that requests an ``llm_*`` fixture or carries an ``npu``/``cuda``/
``accelerator`` marker, an ``--llm-*`` option or ``ASCEND_LLM_*`` variable, this package's suite named
on the command line, or a ``--benchmark-compare`` against a run this plugin saved. The order of the
work inside one hook is the order of the lines below; ``tryfirst``/``trylast`` only place a hook
against pytest's own and other plugins' hooks.
"""

from __future__ import annotations

import os

import pytest

from pytest_ascend_llm import module_pins
from pytest_ascend_llm.errors import LLMSetupError, ModelLoadFailedEarlier
from pytest_ascend_llm.plugin import benchmark_adapter as adapter
from pytest_ascend_llm.plugin import gate, markers, options, results, run_clock, terminal, timers, workers
from pytest_ascend_llm.plugin.fixtures import (  # noqa: F401  (pytest finds fixtures on the plugin module)
    llm_bench,
    llm_device,
    llm_engine,
    llm_env,
    llm_loaded,
    llm_measured_bandwidth,
    llm_memory,
    llm_model,
    llm_outputs,
    llm_run,
    llm_session,
    llm_tokenizer,
)
from pytest_ascend_llm.plugin.state import (
    COMMAND_LINE_KEY,
    STATE_KEY,
    PluginState,
    active_session,
    awaken,
    awaken_or_usage_error,
    command_line,
    plugin_state,
    stable_name,
)
from pytest_ascend_llm.settings import asks_for_plugin

COMPACT_COLUMNS = ["min", "median", "max", "rounds"]  # our own table has the percentiles


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Before conftests (and torch) load: keep the whole command line, and in an xdist worker of a run
    that asked for the plugin, narrow the visible devices to this worker's."""
    early_config.stash[COMMAND_LINE_KEY] = tuple(map(str, args))
    if asks_for_plugin(args, os.environ):
        workers.narrow_visible_devices(args)


def pytest_configure(config: pytest.Config) -> None:
    """Markers, then every option validated (cheap, before anything heavy), then what the run needs."""
    markers.register_markers(config)
    settings = options.settings_from(config)
    args = command_line(config)
    percentile = gate.tracked_percentile_of(config, settings.compare_fail)
    state = PluginState(settings, asks_for_plugin(args, os.environ), percentile)
    config.stash[STATE_KEY] = state
    gate.check_rules(config, state)
    gate.load_floors(state)
    if not hasattr(config, "workerinput"):  # the controller (or the only process) writes the results file
        state.recorder = results.ResultsRecorder(config, state)
        config.pluginmanager.register(state.recorder)  # it receives every report, the workers' too
    if state.asked:
        workers.refuse_too_many_workers(config, args)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: one worker per visible device of the kind this run uses (None: xdist's own rule)."""
    args = command_line(config)
    return workers.auto_worker_count(args) if asks_for_plugin(args, os.environ) else None


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter's sessionstart prints the header
def pytest_sessionstart(session: pytest.Session) -> None:
    """The timer, chosen once (every plugin is configured by now); a run that asked for the plugin opens
    the session now, so bad input is one line here."""
    state = session.config.stash[STATE_KEY]
    state.timer = timers.choose_timer(session.config)
    run_clock.start(state)
    if state.asked:
        awaken_or_usage_error(session.config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return terminal.report_header(config, config.stash[STATE_KEY])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any(markers.wants_llm(item) for item in items):
        awaken_or_usage_error(config)
    markers.startup_first(items)  # the start-up cases need an engine that has served nothing yet


@pytest.hookimpl(trylast=True)  # after pytest's "collected N items"
def pytest_collection_finish(session: pytest.Session) -> None:
    """The header, then how long the timed cases should take."""
    terminal.write_header(session.config, session.config.stash[STATE_KEY])
    run_clock.plan(session, session.config.stash[STATE_KEY])


@pytest.hookimpl(tryfirst=True)  # before fixtures are set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip device-marked tests where that device is not in use, and model tests once the model failed
    to load (the first failure is the one error shown). Raised from here, each reason is one line for
    all the tests it covers in ``-rs`` (a skip mark would repeat it once per test)."""
    llm = active_session(item.config)
    if llm is None:
        return
    if llm.load_failure is not None and markers.touches_model(item):
        pytest.skip(str(ModelLoadFailedEarlier(llm.load_failure)))
    reason = markers.unrunnable_marker(item, llm)
    if reason is not None:
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """After a test's reports: the run's progress line for a timed case."""
    result = yield
    state = plugin_state(item.config)
    if state is not None and state.run.length is not None:
        run_clock.after_test(item.config, state.run, stable_name(item))
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Every test that touches the model runs under a memory monitor and reports its peak."""
    llm = active_session(item.config)
    if llm is None or not markers.touches_model(item):
        return (yield)
    from pytest_ascend_llm.plugin.memory import monitored_call

    return (yield from monitored_call(item, llm))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attach the test's record to its report (it crosses to the xdist controller with it), and keep
    what a model test wrote to stderr (torch_npu warns of each CPU fallback once, in C++, to fd 2)."""
    report = yield
    state = plugin_state(item.config)
    if state is None or state.llm is None:
        return report
    if report.when == "call" and report.capstderr:
        state.run.stderr_seen.append(report.capstderr)
    if results.wants_record(report):
        report.llm_record = results.record_of_test(item, report, state)
    return report


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark saves machine_info and prints its table
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The host's load at the end and a narrow pytest-benchmark table (ours has the percentiles), then
    the gate, then the results file's last records and the report."""
    config = session.config
    state = config.stash[STATE_KEY]
    if state.llm is not None and state.run.results:
        from pytest_ascend_llm.benchmarking.noise import load_average

        state.llm.environment.load_average_1m_end = load_average()
        adapter.narrow_table(config, COMPACT_COLUMNS)
    status = gate.apply_to_session(session, state, exitstatus)
    if state.recorder is not None:
        line = state.recorder.finish(status, gate.gate_verdicts(config, state))
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if line is not None and reporter is not None:
            reporter.write_line(line)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = config.stash[STATE_KEY]
    terminal.write_measurements(terminalreporter, state)
    terminal.write_startup(terminalreporter, state)
    terminal.write_soak(terminalreporter, state)
    terminal.write_saturation(terminalreporter, state)
    records = state.recorder.records if state.recorder else []
    terminal.write_collective(terminalreporter, records)
    terminal.write_outputs(terminalreporter, state, records)
    if state.llm is not None:
        terminal.write_session_lines(terminalreporter, state)


def pytest_unconfigure(config: pytest.Config) -> None:
    llm = active_session(config)
    if llm is not None:
        llm.close()
        module_pins.pin_imported()


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    llm = active_session(config)
    if llm is not None:
        machine_info["llm_stack"] = llm.environment.to_dict()


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
    result = None
    with adapter.without_generic_warning(benchmarksession):
        result = yield
    terminal.write_changes(config, config.stash[STATE_KEY], saved, machine_info["llm_stack"])
    return result


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo) -> dict | None:
    """pytest-json-report: what the test measured, and where it ran (from xdist workers too)."""
    state = plugin_state(item.config)
    if call.when != "call" or state is None or state.llm is None:
        return None
    return results.json_test_metadata(item, state)
