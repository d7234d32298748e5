"""pytest glue for what a run leaves behind: the results file (a JSON line per finished test, fsynced),
the ``--llm-report`` folder built from it, and our data in pytest-json-report's report.

Nothing here acts before the LLM session is awake, so a run that never asks for the plugin writes
nothing. Under pytest-xdist the workers measure and attach each test's record to its report; the
controller, which receives every report, writes the one merged file and builds the report.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from pytest_ascend_llm.plugin import STATE_KEY, active_session

TIMELINE_KEY = pytest.StashKey[list]()  # a test's memory timeline, set by the memory monitor


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _plain_properties(item: pytest.Item) -> dict[str, object]:
    return {str(name): value for name, value in item.user_properties}


def _one_line(report: pytest.TestReport) -> str:
    """The reason of a skip, or the last error line of a failure; '' for a pass."""
    if report.passed:
        return ""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    text = report.longreprtext.strip().splitlines() if report.longrepr else []
    errors = [line for line in text if line.startswith("E ")]
    return " ".join((errors or text or [""])[-1].split())[:500]


def test_record(item: pytest.Item, report: pytest.TestReport, session_sent: bool) -> dict[str, object]:
    """What one finished test measured, JSON-ready, with where it ran."""
    from pytest_ascend_llm.plugin_benchmark import stable_name

    llm = active_session(item.config)
    case = llm.results.get(stable_name(item)) if llm is not None else None
    record: dict[str, object] = {
        "kind": "test",
        "nodeid": report.nodeid,
        "case": stable_name(item),
        "outcome": report.outcome,
        "when": report.when,
        "duration": report.duration,
        "finished": time.time(),
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "device": str(llm.device) if llm is not None and "device" in vars(llm) else None,
        "visible_devices": {name: os.environ[name] for name in VISIBLE_VARIABLES if name in os.environ},
        "message": _one_line(report),
        "benchmark": "llm_bench" in getattr(item, "fixturenames", ()),
        "properties": _plain_properties(item),
        "metrics": case.metrics() if case is not None else None,
        "memory_timeline": item.stash.get(TIMELINE_KEY, None),
    }
    if not session_sent and llm is not None:
        record["environment"] = llm.environment.to_dict()
    return record


VISIBLE_VARIABLES = ("ASCEND_RT_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")


class ResultsRecorder:
    """Writes records as reports arrive (controller or single process); remembers them for the report."""

    def __init__(self, config: pytest.Config) -> None:
        from pytest_ascend_llm.reporting.results_file import DEFAULT_NAME

        settings = config.stash[STATE_KEY].settings
        self.config = config
        self.run = uuid.uuid4().hex[:12]
        self.path = Path(settings.results or Path(config.invocation_params.dir) / DEFAULT_NAME)
        self.report_dir = Path(settings.report) if settings.report else None
        self.file = None
        self.records: list[dict[str, object]] = []
        self.sessions_sent: set[str] = set()

    def write(self, record: dict[str, object]) -> None:
        if self.file is None:
            from pytest_ascend_llm.reporting.results_file import ResultsFile

            self.file = ResultsFile(self.path)
        record = {"run": self.run, **record}
        self.file.append(record)
        self.records.append(record)

    def on_test(self, record: dict[str, object]) -> None:
        environment = record.pop("environment", None)
        if environment is not None:
            started = {"kind": "session", "worker": record["worker"], "started": time.time()}
            self.write(started | {"environment": environment})
        self.write(record)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "llm_record", None)
        if record is not None:
            self.on_test(dict(record))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """After the gate has run (its verdicts are written too), then the report is built."""
        self.finish(session.exitstatus)

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict) -> None:
        """pytest-json-report: the stack in its (otherwise empty) environment section, and each gated
        test's verdicts beside the metrics its metadata already carries."""
        from pytest_ascend_llm.plugin_benchmark import gate_verdicts

        sessions = [r for r in self.records if r.get("kind") == "session"]
        llm = active_session(self.config)
        stack = sessions[0]["environment"] if sessions else (llm.environment.to_dict() if llm else None)
        if stack is not None:
            environment = json_report.setdefault("environment", {})
            environment["ascend_llm"] = stack
            environment["ascend_llm_workers"] = {s["worker"]: s["environment"].get("device_kind") for s in sessions}
        verdicts = [verdict_record(v) for v in gate_verdicts(self.config)]
        for test in json_report.get("tests", []):
            name = test["nodeid"].split("::")[-1]
            mine = [v for v in verdicts if v["case"].split("::")[-1] == name]
            if mine:
                test.setdefault("metadata", {}).setdefault("ascend_llm", {})["gate"] = mine

    def finish(self, exitstatus: int) -> None:
        if self.file is None:
            return
        from pytest_ascend_llm.plugin_benchmark import gate_verdicts

        verdicts = gate_verdicts(self.config)
        if verdicts:
            self.write({"kind": "gate", "verdicts": [verdict_record(v) for v in verdicts]})
        self.write({"kind": "end", "exitstatus": int(exitstatus), "finished": time.time()})
        self.file.close()
        if self.report_dir is not None:
            from pytest_ascend_llm.reporting.build import build_report

            written = build_report(self.records, self.report_dir)
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"ascend-llm: report in {written} (results in {self.path})")


def verdict_record(verdict) -> dict[str, object]:
    return {
        "case": verdict.case,
        "rule": str(verdict.rule),
        "verdict": verdict.verdict,
        "before": verdict.baseline,
        "now": verdict.current,
        "change": verdict.change,
        "low": verdict.low,
        "high": verdict.high,
        "counts": list(verdict.counts),
        "note": verdict.note,
    }


@pytest.hookimpl(trylast=True)  # after the main plugin has validated the settings
def pytest_configure(config: pytest.Config) -> None:
    """The controller (or the only process) writes; xdist workers only attach records to reports."""
    if STATE_KEY in config.stash and not _is_worker(config):
        config.pluginmanager.register(ResultsRecorder(config), "ascend-llm-results-recorder")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attach the test's record to its report: the call phase, and a setup or teardown that did not
    pass. A report crosses to the xdist controller with its record."""
    report = yield
    llm = active_session(item.config)
    if llm is not None and report.when == "call" and report.capstderr:
        llm.stderr_seen.append(report.capstderr)  # torch_npu warns of each CPU fallback once, in C++, to fd 2
    wanted = report.when == "call" or (report.when == "setup" and not report.passed) or report.failed
    if wanted and active_session(item.config) is not None:
        report.llm_record = test_record(item, report, item.config.stash.get(_SESSION_SENT_KEY, False))
        item.config.stash[_SESSION_SENT_KEY] = True
    return report


_SESSION_SENT_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo) -> dict | None:
    """pytest-json-report: what the test measured (without the raw samples, which the results file
    keeps), and where it ran. Runs where the test ran, so it crosses from xdist workers too."""
    if call.when != "call" or active_session(item.config) is None:
        return None
    from pytest_ascend_llm.plugin_benchmark import stable_name

    llm = active_session(item.config)
    case = llm.results.get(stable_name(item))
    measured = {k: v for k, v in case.metrics().items() if k != "samples"} if case is not None else None
    from pytest_ascend_llm.reporting.results_file import plain

    return {
        "ascend_llm": plain(
            {
                "device": str(llm.device),
                "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                "metrics": measured,
                "properties": _plain_properties(item),
            }
        )
    }
