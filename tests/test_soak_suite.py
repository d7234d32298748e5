"""The shipped soak case in real pytest runs against real local servers (the fake OpenAI server in its
own process, found through its loopback listener): one that leaks must fail on growth with its rate,
one that does not must pass while another process burns a core, and without a length the case skips.
Nothing here asserts a time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_ascend_llm.testing.fake_server import start_fake_server

SOAK = ("--pyargs", "pytest_ascend_llm.suite", "-k", "soak", "-p", "no:cacheprovider", "-p", "no:randomly", "-rs")
ENDPOINT = ("--llm-engine", "openai", "--llm-device", "cpu")
# Scheduled latency (50 ms to the first token, 5 ms a token) well above what a busy core adds.
TIMING = ("--ttft", "0.05", "--itl", "0.005")
# Nothing the fake server keeps per request: no send-time log, no simulated prefix cache.
STEADY = (*TIMING, "--no-sent-times", "--cache-prompts", "0")


def saved_soak(storage) -> dict:
    [saved] = storage.rglob("*.json")
    [case] = json.loads(saved.read_text())["benchmarks"]
    return case["extra_info"]["llm"]


def test_a_leaking_server_fails_on_growth_naming_the_rate(pytester, capfd):
    storage = pytester.path / "runs"
    with start_fake_server(*TIMING, "--leak-mib-per-request", "0.25") as leaking:
        result = pytester.runpytest(
            *SOAK, *ENDPOINT, "--llm-endpoint", leaking.url, "--llm-soak-seconds", "6",
            f"--benchmark-storage=file://{storage}", "--benchmark-save=soak",
        )  # fmt: skip
    result.assert_outcomes(failed=1, deselected=result.parseoutcomes()["deselected"])
    shown = capfd.readouterr().err  # the window lines, written past the (in-process) run's capture
    assert "soak: 6 s of 4 streams in a closed loop, 3 windows of 2 s; memory: the process listening on 127.0.0.1:" in (
        shown
    )
    assert "soak window 3/3" in shown and "server RSS" in shown
    result.stdout.fnmatch_lines([
        "*soak failed on growth of server RSS: server RSS +* MiB/h *MiB per 1,000 requests*above --llm-soak-max-growth"
        " 32 MiB/h: failed*",
        "*ascend-llm soak: memory growth, latency drift, errors*",
        "test_soak: 6 s of 4 streams*verdict FAILED",
    ])  # fmt: skip
    metrics = saved_soak(storage)
    [growth] = metrics["soak"]["growth"]
    per_k = growth["per_1k_requests"]
    leak = 0.25 * 1000  # MiB per 1,000 requests (each block costs a little more: the allocator's rounding)
    assert leak * 0.9 <= per_k["low"] <= per_k["slope"] <= per_k["high"] <= leak * 1.1, per_k
    assert metrics["soak"]["outcome"] == "failed" and metrics["completed"] == metrics["soak"]["requests"]


def test_a_steady_server_passes_while_a_busy_process_burns_a_core(pytester, monkeypatch, capfd):
    # The fake server keeps no object per request (tracemalloc: +1 KiB traced over 768 requests), yet its
    # RSS creeps as the allocators keep freed memory as slack (pymalloc's arenas; glibc's heap top, up to
    # its 128 KiB trim threshold and 128 KiB top pad): bounded, but over 8 s a few hundred KiB reads as
    # tens of MiB/h. Returning freed memory at once makes RSS show what the server holds.
    for name, value in (("PYTHONMALLOC", "malloc"), ("MALLOC_TRIM_THRESHOLD_", "0"), ("MALLOC_TOP_PAD_", "0")):
        monkeypatch.setenv(name, value)
    storage, report = pytester.path / "runs", pytester.path / "report"
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with start_fake_server(*STEADY) as steady:
            result = pytester.runpytest(
                *SOAK, *ENDPOINT, "--llm-endpoint", steady.url, "--llm-soak-seconds", "8",
                f"--benchmark-storage=file://{storage}", "--benchmark-save=soak", f"--llm-report={report}",
            )  # fmt: skip
    finally:
        busy.kill()
        busy.wait()
    result.assert_outcomes(passed=1, deselected=result.parseoutcomes()["deselected"])
    assert "soak window 4/4" in capfd.readouterr().err
    result.stdout.fnmatch_lines(["test_soak: 8 s of 4 streams*", "  passed *server RSS *within 32 MiB/h"])
    soak = saved_soak(storage)["soak"]
    assert [check["outcome"] for check in soak["checks"] if check["name"] != "latency drift"] == ["passed", "passed"]
    assert len(soak["windows"]) == 4 and soak["requests"] == sum(w["requests"] for w in soak["windows"])
    assert soak["judged"] == ["server RSS"] and soak["errors"] == 0
    text = (report / "report.md").read_text()
    assert "## Soak" in text and "| window | ends s |" in text and (report / "soak-test_soak.png").exists()


def test_an_undecided_soak_passes_with_a_warning_that_says_inconclusive(pytester, monkeypatch):
    """One stream on a slow server: windows too thin for a P95, so the drift is undecided, said plainly."""
    for name, value in (("PYTHONMALLOC", "malloc"), ("MALLOC_TRIM_THRESHOLD_", "0"), ("MALLOC_TOP_PAD_", "0")):
        monkeypatch.setenv(name, value)
    with start_fake_server("--ttft", "0.2", "--no-sent-times", "--cache-prompts", "0") as slow:
        result = pytester.runpytest(
            *SOAK, *ENDPOINT, "--llm-endpoint", slow.url, "--llm-soak-seconds", "4", "--llm-soak-concurrency", "1"
        )
    result.assert_outcomes(passed=1, warnings=1, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines([
        "*SoakInconclusive: soak inconclusive: latency drift: P95 needs 21 requests per window, the first had *",
        "test_soak: 4 s of 1 stream in a closed loop, 2 windows of 2 s; * verdict INCONCLUSIVE",
        "  inconclusive latency drift: P95 needs 21 requests per window*",
    ])  # fmt: skip


def test_without_a_length_the_soak_skips_naming_the_option(pytester):
    with start_fake_server(*STEADY) as server:
        result = pytester.runpytest(*SOAK, *ENDPOINT, "--llm-endpoint", server.url)
    result.assert_outcomes(skipped=1, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines(["*the soak runs when given its length: --llm-soak-seconds S (e.g. 3600)*"])


@pytest.mark.parametrize("engine", ["transformers"])
def test_an_in_process_engine_skips_the_soak_saying_what_it_needs(pytester, engine):
    result = pytester.runpytest(*SOAK, "--llm-engine", engine, "--llm-device", "cpu", "--llm-soak-seconds", "5")
    result.assert_outcomes(skipped=1, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines(["*the soak drives a server: --llm-engine openai --llm-endpoint URL*"])


def test_the_run_bound_cuts_the_soak_and_says_so(pytester, capfd):
    storage = pytester.path / "runs"
    with start_fake_server(*STEADY) as steady:
        result = pytester.runpytest(
            *SOAK, *ENDPOINT, "--llm-endpoint", steady.url, "--llm-soak-seconds", "600", "--llm-soak-window", "2",
            "--llm-max-minutes", "0.1", f"--benchmark-storage=file://{storage}", "--benchmark-save=cut",
        )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("passed", 0) == 1, outcomes
    assert "soak: cut from 600 s to " in capfd.readouterr().err
    result.stdout.fnmatch_lines(["run length: 1 timed case(s)*"])
    metrics = saved_soak(storage)
    assert metrics["stopped_by"]["option"] == "--llm-max-minutes 0.1" and metrics["soak"]["requests"] > 0
