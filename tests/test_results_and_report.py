"""What a run leaves behind, in real pytest runs: the results file (kept through a SIGKILL), the report
rebuilt from it alone, the report's sections and plots, pytest-json-report's environment and metadata,
and pytest-xdist with one worker per device and our own timing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pytest_ascend_llm.cli import main
from pytest_ascend_llm.devices.workers import device_for_worker
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.reporting.results_file import read_records

SUITE = ("--pyargs", "pytest_ascend_llm.suite", "--llm-device", "cpu", "-p", "no:cacheprovider", "-p", "no:randomly")


def _tests(path) -> list[dict]:
    return [record for record in read_records(path) if record["kind"] == "test"]


def test_a_sigkilled_run_keeps_every_finished_test_and_the_report_is_rebuilt_from_the_file(tmp_path):
    results = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "pytest", *SUITE, "-k", "prefill or batch_scaling", "--llm-results", str(results)]
    run = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and run.poll() is None:
        if results.exists() and len(_tests(results)) >= 3:
            break
        time.sleep(0.2)
    assert run.poll() is None, "the run ended before it could be killed"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    kept = _tests(results)
    assert len(kept) >= 3 and all(record["metrics"]["n"] >= 5 for record in kept if record["outcome"] == "passed")
    assert not [r for r in read_records(results) if r["kind"] == "end"]
    assert main(["report", str(results), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "**did not finish** (crashed or was killed)" in report and "### test_perf_prefill" in report
    assert (tmp_path / "report" / "latency-test_perf_prefill.png").stat().st_size > 10_000


def test_the_report_has_every_section_and_its_plots(pytester, monkeypatch, tmp_path):
    summary = tmp_path / "job-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = pytester.runpytest(
        *SUITE, "-k", "batch_scaling or prefix_cache_ttft or long_generation or inference_greedy",
        "--llm-report", "out", "--llm-results", "results.jsonl",
    )  # fmt: skip
    assert result.ret == 0
    result.stdout.fnmatch_lines(["ascend-llm: report in out/report.md (results in *results.jsonl)"])
    out = pytester.path / "out"
    report = (out / "report.md").read_text()
    for heading in ("## Environment", "## Compatibility checks", "### test_perf_batch_scaling", "## Plots"):
        assert heading in report
    assert "| bs16 | " in report and "(max)" in report, "cases with their counts; thin percentiles marked"
    for plot in ("batch-scaling.png", "prefix-cache.png", "tpot-by-position.png", "memory-timeline.png"):
        assert (out / plot).stat().st_size > 10_000 and f"]({plot})" in report
    assert "<table>" in (out / "report.html").read_text()
    assert "## Environment" in summary.read_text() and "![" not in summary.read_text()


def test_json_report_carries_the_stack_the_measurements_and_the_gate(pytester):
    selection = ("-k", "prefill and ctx128 or inference_greedy", "--llm-rounds", "25")
    storage = f"--benchmark-storage=file://{pytester.path / 'runs'}"
    assert pytester.runpytest(*SUITE, *selection, storage, "--benchmark-save=base").ret == 0
    result = pytester.runpytest(
        *SUITE, *selection, storage, "--benchmark-compare", "--llm-compare-fail", "p50:900%",
        "--json-report", "--json-report-file=report.json",
    )  # fmt: skip
    assert result.ret == 0
    report = json.loads((pytester.path / "report.json").read_text())
    stack = report["environment"]["ascend_llm"]
    assert stack["torch"].startswith("2.") and stack["engine"] == "transformers"
    tests = {test["nodeid"].split("::")[-1]: test for test in report["tests"]}
    prefill = tests["test_perf_prefill[ctx128]"]["metadata"]["ascend_llm"]
    assert prefill["metrics"]["n"] == 25 and prefill["metrics"]["p95"] > 0 and "samples" not in prefill["metrics"]
    assert prefill["device"] == "cpu" and prefill["gate"][0]["verdict"] in ("unchanged", "inconclusive", "improved")
    greedy = tests["test_inference_greedy_output_is_nonempty_and_repeatable"]["metadata"]["ascend_llm"]
    assert greedy["metrics"] is None and greedy["worker"] == "main"


def test_xdist_workers_time_their_own_cases_and_the_controller_merges_the_results(pytester):
    selection = "prefill and (ctx128 or ctx512) or inference_greedy"
    result = pytester.runpytest_subprocess(*SUITE, "-n", "2", "-k", selection, "--llm-report", "rep")
    assert result.ret == 0
    records = _tests(pytester.path / "ascend-llm-results.jsonl")
    assert {record["worker"] for record in records} == {"gw0", "gw1"}
    cases = [record for record in records if record["metrics"]]
    assert len(cases) == 2 and all(record["metrics"]["n"] >= 5 for record in cases)
    result.stdout.fnmatch_lines(["*ascend-llm latency tails*", "prefill *", "ctx128 *"])
    report = (pytester.path / "rep" / "report.md").read_text()
    if len({record["worker"] for record in cases}) == 2:  # the report says which worker ran which case
        assert "| ran on |" in report and "(gw0)" in report and "(gw1)" in report
    assert "ran once as correctness checks" not in result.stdout.str()


def test_each_xdist_worker_sees_only_its_own_device(pytester, monkeypatch):
    """ASCEND_RT_VISIBLE_DEVICES=4,6 and two workers: gw0 gets 4 and gw1 gets 6, before any conftest;
    three workers are refused, and -n auto starts one per device."""
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "4,6")
    monkeypatch.setenv("ASCEND_LLM_ROUNDS", "5")  # the run asks for this plugin
    pytester.makeconftest("import os\nSEEN = os.environ['ASCEND_RT_VISIBLE_DEVICES']\n")
    pytester.makepyfile(
        test_where="""
        import os, conftest
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_where(n, record_property):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            (conftest.SEEN == os.environ["ASCEND_RT_VISIBLE_DEVICES"]) or pytest.fail("changed after conftest")
            open(f"{worker}-{n}.txt", "w").write(os.environ["ASCEND_RT_VISIBLE_DEVICES"])
        """
    )
    pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider").assert_outcomes(passed=4)
    seen = {path.name.split("-")[0]: path.read_text() for path in pytester.path.glob("gw*.txt")}
    assert seen == {"gw0": "4", "gw1": "6"}
    refused = pytester.runpytest_subprocess("-n", "3", "-p", "no:cacheprovider")
    refused.stderr.fnmatch_lines(["*3 xdist workers but 2 npu device(s) (ASCEND_RT_VISIBLE_DEVICES=4,6)*use -n 2*"])
    auto = pytester.runpytest_subprocess("-n", "auto", "-p", "no:cacheprovider")
    auto.stdout.fnmatch_lines(["*2 workers*"])


def test_worker_to_device_mapping_and_refusal():
    assert [device_for_worker("npu", f"gw{i}", 8, [str(d) for d in range(8)]) for i in range(8)] == list("01234567")
    assert device_for_worker("cuda", "gw1", 2, ["2", "5", "7"]) == "5"
    with pytest.raises(LLMSetupError, match=r"9 xdist workers but 8 npu device\(s\).*use -n 8"):
        device_for_worker("npu", "gw0", 9, [str(d) for d in range(8)])


def test_a_record_cut_by_a_kill_is_skipped(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"kind": "test", "run": "a"}\n{"kind": "te')
    assert [record["kind"] for record in read_records(path)] == ["test"]


def test_report_of_a_run_the_file_does_not_hold_lists_the_runs_it_does(pytester, capsys):
    pytester.makepyfile("def test_ok():\n    pass\n")
    results = pytester.path / "results.jsonl"
    for _ in range(2):
        pytester.runpytest("-p", "no:cacheprovider", "--llm-results", str(results)).assert_outcomes(passed=1)
    held = list(dict.fromkeys(record["run"] for record in read_records(results)))
    assert len(held) == 2
    assert main(["report", str(results), "--run", "BADID", "--out", str(pytester.path / "report")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {results} holds no run 'BADID', only the runs {held[0]}, {held[1]}: pass --run one of them\n"
