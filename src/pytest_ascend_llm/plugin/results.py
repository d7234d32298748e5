"""What a run leaves behind: the results file (a JSON line per finished test, fsynced), the
``--llm-report`` folder built from it, and our data in pytest-json-report's report.

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

from pytest_ascend_llm.devices.visible import VISIBLE
from pytest_ascend_llm.plugin.gate import gate_verdicts
from pytest_ascend_llm.plugin.state import TIMELINE_KEY, PluginState, stable_name


def _plain_properties(item: pytest.Item) -> dict[str, object]:
    return {str(name): value for name, value in item.user_properties}


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _one_line(report: pytest.TestReport) -> str:
    """The reason of a skip, or the last error line of a failure; '' for a pass."""
    if report.passed:
        return ""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    text = report.longreprtext.strip().splitlines() if report.longrepr else []
    errors = [line for line in text if line.startswith("E ")]
    return " ".join((errors or text or [""])[-1].split())[:500]


def wants_record(report: pytest.TestReport) -> bool:
    """The call phase, and a setup or teardown that did not pass."""
    return report.when == "call" or (report.when == "setup" and not report.passed) or report.failed


def record_of_test(item: pytest.Item, report: pytest.TestReport, state: PluginState) -> dict[str, object]:
    """What one finished test measured, JSON-ready, with where it ran; the first record of a process
    carries the environment."""
    llm = state.llm
    case = state.run.results.get(stable_name(item))
    record: dict[str, object] = {
        "kind": "test",
        "nodeid": report.nodeid,
        "case": stable_name(item),
        "outcome": report.outcome,
        "when": report.when,
        "duration": report.duration,
        "finished": time.time(),
        "worker": _worker(),
        "device": str(llm.device) if llm is not None and "device" in vars(llm) else None,
        "visible_devices": {name: os.environ[name] for name in VISIBLE.values() if name in os.environ},
        "message": _one_line(report),
        "benchmark": "llm_bench" in getattr(item, "fixturenames", ()),
        "properties": _plain_properties(item),
        "metrics": case.metrics() if case is not None else None,
        "requests": case.request_details if case is not None and case.request_details else None,
        "outputs": state.run.outputs.get(stable_name(item)),
        "memory_timeline": item.stash.get(TIMELINE_KEY, None),
    }
    if not state.run.session_sent and llm is not None:
        record["environment"] = llm.environment.to_dict()
        state.run.session_sent = True
    return record


def json_test_metadata(item: pytest.Item, state: PluginState) -> dict[str, object]:
    """pytest-json-report: what the test measured (without the raw samples, which the results file
    keeps), and where it ran."""
    from pytest_ascend_llm.reporting.results_file import plain

    case = state.run.results.get(stable_name(item))
    measured = {k: v for k, v in case.metrics().items() if k != "samples"} if case is not None else None
    return {
        "ascend_llm": plain(
            {
                "device": str(state.llm.device),
                "worker": _worker(),
                "metrics": measured,
                "properties": _plain_properties(item),
            }
        )
    }


def verdict_record(verdict) -> dict[str, object]:
    """``change``, ``low`` and ``high`` are what the verdict judged (at equal host speed where ``host_speed``
    is set); ``raw_change`` is the change as measured. Records saved before those two keys lack them."""
    return {
        "case": verdict.case,
        "rule": str(verdict.rule),
        "verdict": verdict.verdict,
        "before": verdict.baseline,
        "now": verdict.current,
        "change": verdict.change,
        "raw_change": verdict.raw_change,
        "host_speed": verdict.host_speed,
        "low": verdict.low,
        "high": verdict.high,
        "counts": list(verdict.counts),
        "note": verdict.note,
    }


class ResultsRecorder:
    """Writes records as reports arrive (controller or single process); remembers them for the report.
    Registered as a plugin object: pytest hands it every test report, and pytest-json-report its report."""

    def __init__(self, config: pytest.Config, state: PluginState) -> None:
        from pytest_ascend_llm.reporting.results_file import DEFAULT_NAME

        settings = state.settings
        self.config, self.state = config, state
        self.run = uuid.uuid4().hex[:12]
        self.path = Path(settings.results or Path(config.invocation_params.dir) / DEFAULT_NAME)
        self.report_dir = Path(settings.report) if settings.report else None
        self.file = None
        self.records: list[dict[str, object]] = []

    def write(self, record: dict[str, object]) -> None:
        if self.file is None:
            from pytest_ascend_llm.reporting.results_file import ResultsFile

            self.file = ResultsFile(self.path)
        record = {"run": self.run, **record}
        self.file.append(record)
        self.records.append(record)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "llm_record", None)
        if record is None:
            return
        record = dict(record)
        environment = record.pop("environment", None)
        if environment is not None:
            started = {"kind": "session", "worker": record["worker"], "started": time.time()}
            self.write(started | {"environment": environment})
        self.write(record)

    def finish(self, exitstatus: int, verdicts: list) -> str | None:
        """The gate's verdicts and the end record, then the report; returns the line naming the report."""
        if self.file is None:
            return None
        if self.state.run.changes is not None:
            self.write({"kind": "compare", "changes": self.state.run.changes})
        if verdicts:
            self.write({"kind": "gate", "verdicts": [verdict_record(v) for v in verdicts]})
        self.write({"kind": "end", "exitstatus": int(exitstatus), "finished": time.time()})
        self.file.close()
        if self.report_dir is None:
            return None
        from pytest_ascend_llm.reporting.build import build_report

        written = build_report(self.records, self.report_dir)
        return f"ascend-llm: report in {written} (results in {self.path})"

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict) -> None:
        """pytest-json-report: the stack in its (otherwise empty) environment section, and each gated
        test's verdicts beside the metrics its metadata already carries."""
        sessions = [r for r in self.records if r.get("kind") == "session"]
        llm = self.state.llm
        stack = sessions[0]["environment"] if sessions else (llm.environment.to_dict() if llm else None)
        if stack is not None:
            environment = json_report.setdefault("environment", {})
            environment["ascend_llm"] = stack
            environment["ascend_llm_workers"] = {s["worker"]: s["environment"].get("device_kind") for s in sessions}
        if self.state.run.changes is not None:
            json_report.setdefault("environment", {})["ascend_llm_changes"] = self.state.run.changes
        verdicts = [verdict_record(v) for v in gate_verdicts(self.config, self.state)]
        for test in json_report.get("tests", []):
            name = test["nodeid"].split("::")[-1]
            mine = [v for v in verdicts if v["case"].split("::")[-1] == name]
            if mine:
                test.setdefault("metadata", {}).setdefault("ascend_llm", {})["gate"] = mine
