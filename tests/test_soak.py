"""The soak's judgement on injected readings and latencies (a leak, a flat series after a warm-up step,
noise, an interval straddling the limit, drift, errors), and its real probes: the loopback listener
found with psutil, a process tree's RSS. The runs against real servers are in test_soak_suite.py."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time

import pytest

from pytest_ascend_llm.serving.records import COMPLETED, FAILED, RequestRecord
from pytest_ascend_llm.settings import Settings
from pytest_ascend_llm.soak import verdicts
from pytest_ascend_llm.soak.drift import latency_drift
from pytest_ascend_llm.soak.locate import is_loopback, listener_pid, locate_server
from pytest_ascend_llm.soak.plan import SoakPlan
from pytest_ascend_llm.soak.probes import tree_rss_mib
from pytest_ascend_llm.soak.trend import memory_growth
from pytest_ascend_llm.soak.windows import Finished, make_window

HOUR = 3600.0
LIMIT = 32.0  # MiB/h, the option's default


def readings(slope_mib_per_h: float, noise_mib: float = 0.0, warmup_mib: float = 0.0, seed: int = 0):
    """An hour of readings every minute: a warm-up step within the first window (10 min), then a line."""
    rng = random.Random(seed)
    times = [60.0 * i for i in range(61)]
    mib = [
        1000 + (warmup_mib * min(1.0, t / 300)) + slope_mib_per_h * t / HOUR + rng.gauss(0, noise_mib) for t in times
    ]
    done = [int(t * 10) for t in times]  # 10 requests a second
    return times, done, mib


def growth_outcome(**shape):
    times, done, mib = readings(**shape)
    growth = memory_growth("server RSS", times, done, mib, after=600.0)
    return growth, verdicts.growth_check(growth, LIMIT)


def test_a_leak_fails_naming_its_rate_per_hour_and_per_thousand_requests():
    growth, check = growth_outcome(slope_mib_per_h=360.0, noise_mib=1.0)
    assert check.outcome == verdicts.FAILED
    assert growth.per_hour.low > LIMIT and growth.per_hour.low <= 360.0 <= growth.per_hour.high
    per_request_k = 360.0 / HOUR / 10 * 1000  # MiB/h over 10 req/s, per 1,000 requests
    assert growth.per_1k_requests.low <= per_request_k <= growth.per_1k_requests.high
    assert (
        "MiB/h" in check.line
        and "MiB per 1,000 requests" in check.line
        and "above --llm-soak-max-growth 32" in (check.line)
    )


def test_a_warm_up_step_in_the_first_window_is_not_growth():
    growth, check = growth_outcome(slope_mib_per_h=0.0, warmup_mib=500.0)
    assert check.outcome == verdicts.PASSED, check.line
    assert growth.per_hour.slope == growth.per_hour.low == growth.per_hour.high == 0.0
    assert growth.per_hour.points == 51  # the readings from the first window's end on


def test_a_warm_up_filling_the_first_window_of_a_short_soak_is_left_out():
    """Why the first window is left out: Theil-Sen shrugs off a short step, but a ramp over a whole window
    of four is a quarter of the readings, and a fit from the start cannot pass a server that stopped growing."""
    times = [0.5 * i for i in range(17)]  # 4 windows of 2 s, 4 readings each
    mib = [100 + 50 * min(1.0, t / 2.0) for t in times]
    done = [int(20 * t) for t in times]
    from_start = memory_growth("server RSS", times, done, mib, after=0.0)
    after_first = memory_growth("server RSS", times, done, mib, after=2.0)
    assert verdicts.growth_check(from_start, LIMIT).outcome != verdicts.PASSED and from_start.per_hour.high > LIMIT
    assert verdicts.growth_check(after_first, LIMIT).outcome == verdicts.PASSED
    assert after_first.per_hour.points == 13 and after_first.first_mib == after_first.last_mib == 150


def test_noise_around_a_flat_line_passes_with_an_interval_around_zero():
    growth, check = growth_outcome(slope_mib_per_h=0.0, noise_mib=2.0, seed=3)
    assert check.outcome == verdicts.PASSED, check.line
    assert growth.per_hour.low < 0 < growth.per_hour.high <= LIMIT


def test_an_interval_straddling_the_limit_is_inconclusive_said_plainly():
    growth, check = growth_outcome(slope_mib_per_h=LIMIT, noise_mib=8.0, seed=1)
    assert growth.per_hour.low <= LIMIT < growth.per_hour.high
    assert check.outcome == verdicts.INCONCLUSIVE and "straddles 32 MiB/h: inconclusive" in check.line


def test_too_few_readings_after_the_first_window_are_inconclusive():
    growth = memory_growth("server RSS", [0.0, 1.0, 2.0], [0, 5, 10], [1.0, 2.0, 3.0], after=1.5)
    check = verdicts.growth_check(growth, LIMIT)
    assert growth.per_hour is None and check.outcome == verdicts.INCONCLUSIVE and "--llm-soak-seconds" in check.line


def test_the_verdict_compares_the_whole_interval_with_the_limit():
    assert verdicts.against(33.0, 40.0, 32.0) == verdicts.FAILED
    assert verdicts.against(-1.0, 32.0, 32.0) == verdicts.PASSED
    assert verdicts.against(31.0, 33.0, 32.0) == verdicts.INCONCLUSIVE


def latencies(scale: float, count: int = 200, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [scale * rng.lognormvariate(-2.0, 0.3) for _ in range(count)]


def test_latency_that_doubles_drifts_and_fails_with_the_ratio_and_its_interval():
    drift = latency_drift(latencies(1.0), latencies(2.0, seed=1))
    check = verdicts.drift_check(drift, 0.25)
    assert check.outcome == verdicts.FAILED and drift.low > 1.25 and drift.low <= drift.ratio <= drift.high
    assert "x the first's" in check.line and "bootstrap" in check.line


def test_the_same_latency_does_not_drift_and_the_interval_is_the_same_every_run():
    first, last = latencies(1.0), latencies(1.0, seed=1)
    drift = latency_drift(first, last)
    assert verdicts.drift_check(drift, 0.25).outcome == verdicts.PASSED and drift.low < 1 < drift.high
    assert latency_drift(first, last) == drift, "seeded: the same samples give the same interval"


def test_windows_too_thin_for_a_p95_give_no_ratio_and_say_why():
    drift = latency_drift(latencies(1.0, count=5), latencies(1.0, count=30))
    check = verdicts.drift_check(drift, 0.25)
    assert drift.ratio is None and check.outcome == verdicts.INCONCLUSIVE
    assert "P95 needs 21 requests per window, the first had 5 and the last 30" in check.line


def record(index: int, status: str = COMPLETED) -> RequestRecord:
    from pytest_ascend_llm.metrics.timing import TokenChunk

    chunks = [TokenChunk(0.01, 1), TokenChunk(0.02, 1)] if status == COMPLETED else []
    return RequestRecord(
        index,
        sent=float(index),
        chunks=chunks,
        status=status,
        error="" if status == COMPLETED else ("the connection broke mid-answer"),
    )


def test_errors_fail_naming_how_many_in_which_windows_and_why():
    finished = [Finished(record(i, FAILED if i in (5, 7) else COMPLETED), ended=i + 0.5) for i in range(10)]
    windows = [make_window(1, 0, 5, finished, []), make_window(2, 5, 10, finished, [])]
    assert [w.errors for w in windows] == [0, 2] and [w.n for w in windows] == [5, 3]
    check = verdicts.errors_check(finished, windows)
    assert check.outcome == verdicts.FAILED
    assert check.line == "errors: 2 of 10 requests failed (window 2: 2): 2× the connection broke mid-answer"
    message = verdicts.failure_message([check, verdicts.Check("latency drift", verdicts.PASSED, "fine")])
    assert message.startswith("soak failed on errors: errors: 2 of 10") and "fine" not in message


def test_overall_fails_on_any_failure_else_is_inconclusive_on_any_doubt():
    passed = verdicts.Check("a", verdicts.PASSED, "")
    doubt = verdicts.Check("b", verdicts.INCONCLUSIVE, "")
    unseen = verdicts.not_judged("remote")
    assert verdicts.overall([passed, unseen]) == verdicts.PASSED
    assert verdicts.overall([passed, doubt, unseen]) == verdicts.INCONCLUSIVE
    assert verdicts.overall([doubt, verdicts.Check("c", verdicts.FAILED, "")]) == verdicts.FAILED


@pytest.mark.parametrize(("seconds", "window", "windows", "width"), [("20", None, 10, 2.0), ("8", None, 4, 2.0),
                         ("100", None, 10, 10.0), ("10", "3", 3, 10 / 3)])  # fmt: skip
def test_the_plan_tiles_the_soak_with_equal_windows(seconds, window, windows, width):
    values = {"soak_seconds": seconds} | ({"soak_window": window} if window else {})
    plan = SoakPlan.from_settings(Settings.from_values(values))
    assert plan.windows == windows and plan.window_s == pytest.approx(width) and plan.concurrency == 4


def test_a_remote_endpoint_is_out_of_sight_said_in_one_line():
    where = locate_server("http://10.1.2.3:8000", None)
    assert where.pid is None and where.line.startswith("10.1.2.3 is another host") and "\n" not in where.line
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and not is_loopback("10.0.0.1")


def test_the_listener_on_a_loopback_port_is_found_for_real():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert listener_pid(port) == os.getpid()
        where = locate_server(f"http://127.0.0.1:{port}", None)
    assert where.pid == os.getpid() and f"listening on 127.0.0.1:{port}" in where.line


def test_the_tree_rss_counts_the_children():
    import psutil

    child = subprocess.Popen([sys.executable, "-c", "import time; block = b'x' * (64 << 20); time.sleep(30)"])
    try:
        alone = psutil.Process().memory_info().rss / 2**20
        deadline = time.monotonic() + 10
        while psutil.Process(child.pid).memory_info().rss < 64 << 20 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child holds its block
        assert tree_rss_mib(os.getpid()) >= alone + 64
    finally:
        child.kill()
        child.wait()


def soak_against(*server_args: str, plan: SoakPlan) -> dict:
    """A real soak from plain Python (no pytest layer) against a fake server found by its loopback listener."""
    from pytest_ascend_llm.serving.client import Endpoint
    from pytest_ascend_llm.soak.driver import run_soak
    from pytest_ascend_llm.soak.judge import judge
    from pytest_ascend_llm.soak.probes import server_probes
    from pytest_ascend_llm.suite.prompts import corpus_text
    from pytest_ascend_llm.testing.fake_server import start_fake_server
    from pytest_ascend_llm.workloads.random_lengths import random_length_requests

    with start_fake_server("--ttft", "0.01", "--itl", "0.002", *server_args) as server:
        where = locate_server(server.url, None)
        probes = server_probes(where.pid, None)
        requests = random_length_requests(corpus_text(), 8, 32, 8)
        run = run_soak(Endpoint(server.url, "fake-model", 10.0), requests, plan, probes)
        return judge(run, probes, where, LIMIT, 0.25)


def test_poisson_arrivals_capped_by_the_concurrency_end_at_the_deadline_all_accounted_for():
    soak = soak_against("--no-sent-times", plan=SoakPlan(3.0, 3, concurrency=2, rate=20.0))
    windows = soak["windows"]
    assert [w["index"] for w in windows] == [1, 2, 3] and soak["requests"] == sum(w["requests"] for w in windows)
    assert soak["requests"] > 0 and soak["errors"] == 0 and soak["not_sent"] >= 0
    assert soak["plan"] == "3 s of Poisson 20 req/s, at most 2 in flight, 3 windows of 1 s"
    assert all(sample["mib"]["server RSS"] > 0 for sample in soak["samples"])


def test_a_server_that_answers_errors_fails_the_soak_on_errors_with_the_servers_message():
    soak = soak_against("--status", "503", plan=SoakPlan(2.0, 2, concurrency=2))
    errors = next(check for check in soak["checks"] if check["name"] == "errors")
    assert soak["outcome"] == verdicts.FAILED and errors["outcome"] == verdicts.FAILED
    assert f"errors: {soak['errors']} of {soak['requests']} requests failed (window 1: " in errors["line"]
    assert "answered HTTP 503: injected status 503" in errors["line"]
