"""The saturation search on injected measure functions (no server): where the knee lands, how the bound
and the resolution end it, what a point's judge says; the fake server's --max-running queue; the planner
line for the server's device; and the lines the terminal and report print from the saved dict."""

from __future__ import annotations

import json
import urllib.request

import pytest

from pytest_ascend_llm.engines import SamplingParams
from pytest_ascend_llm.serving.client import Endpoint
from pytest_ascend_llm.serving.load import LoadRequest, LoadShape, run_load
from pytest_ascend_llm.serving.saturation import AT_BOUND, AT_START, KNEE, STOPPED, Axis, Point, search
from pytest_ascend_llm.serving.saturation_lines import saturation_lines
from pytest_ascend_llm.serving.saturation_point import in_flight, judge, point_requests
from pytest_ascend_llm.serving.slo import parse_slo
from pytest_ascend_llm.testing.fake_server import start_fake_server


def step(threshold: float):
    """The SLO holds up to ``threshold`` and fails above it; each point counts its requests."""
    return lambda load: Point(load, load <= threshold, "ok" if load <= threshold else "over", {"requests": 21})


def test_a_monotone_step_lands_the_knee_on_the_step_in_the_order_doubling_then_bisection():
    found = search(Axis("concurrency", 1, 256), step(8))
    assert found.outcome == KNEE and (found.knee.load, found.failed.load) == (8, 9)
    assert [p.load for p in found.points] == [1, 2, 4, 8, 16, 12, 10, 9]
    assert found.requests() == 21 * 8


@pytest.mark.parametrize("threshold", [1, 2, 3, 7, 19, 20, 37, 100, 150, 255])
def test_the_knee_brackets_the_step_within_the_resolution(threshold):
    axis = Axis("concurrency", 1, 256, resolution=0.1)
    found = search(axis, step(threshold))
    assert found.knee.load <= threshold < found.failed.load
    assert found.failed.load - found.knee.load <= max(1, int(0.1 * found.knee.load))
    if threshold < 20:  # one stream until 10 % of the load is two
        assert found.knee.load == threshold


@pytest.mark.parametrize("threshold", [1.3, 5.0, 37.3, 200.0])
def test_a_rate_knee_is_pinned_to_a_relative_resolution(threshold):
    found = search(Axis("rate", 1.0, 256.0, resolution=0.1), step(threshold))
    assert found.outcome == KNEE
    assert found.knee.load <= threshold < found.failed.load <= found.knee.load * 1.1


def test_never_failing_stops_at_the_bound_without_a_knee_above():
    found = search(Axis("concurrency", 1, 100, option="--llm-saturation-max"), step(10_000))
    assert found.outcome == AT_BOUND and found.failed is None and found.knee.load == 100
    assert [p.load for p in found.points] == [1, 2, 4, 8, 16, 32, 64, 100]


def test_failing_at_the_start_measures_one_point():
    found = search(Axis("concurrency", 1, 256), step(0))
    assert found.outcome == AT_START and found.knee is None and [p.load for p in found.points] == [1]


def test_a_time_bound_stops_the_search_between_points():
    taken = []

    def stop():
        return "stopped by --llm-max-minutes 1" if len(taken) == 3 else None

    def measure(load):
        taken.append(load)
        return step(8)(load)

    found = search(Axis("concurrency", 1, 256), measure, stop)
    assert found.outcome == STOPPED and taken == [1, 2, 4] and found.to_dict()["stopped_by"].startswith("stopped")


def test_only_the_knee_and_the_first_failure_keep_their_runs():
    found = search(Axis("concurrency", 1, 256), lambda load: Point(load, load <= 8, "", {}, run=f"run{load:g}"))
    kept = {p.load: p.run for p in found.points if p.run is not None}
    assert kept == {8: "run8", 9: "run9"} and found.knee.run == "run8"


FIGURES = {"requests": 32, "completed": 32, "n": 32, "ttft_n": 32, "tpot_n": 32, "ttft_p95": 0.1, "tpot_p95": 0.02,
           "p95": 0.5}  # fmt: skip


def test_a_point_holds_only_with_every_limited_p95_resolved_and_within():
    slo = parse_slo("ttft=150,tpot=30")
    assert judge(FIGURES, slo) == (True, "TTFT P95 100.0 ms ≤ 150.0 ms; TPOT P95 20.0 ms ≤ 30.0 ms")
    held, why = judge(FIGURES | {"ttft_p95": 0.2}, slo)
    assert not held and why == "TTFT P95 200.0 ms > 150.0 ms"
    held, why = judge(FIGURES | {"tpot_n": 20}, slo)
    assert not held and why == "TPOT P95 unresolved (20 samples, a P95 needs 21)"
    held, why = judge(FIGURES | {"completed": 30, "failures": "2 failed of 32: 2× refused"}, slo)
    assert not held and why == "not every request completed: 2 failed of 32: 2× refused"
    assert judge(FIGURES, parse_slo("e2e=400")) == (False, "E2E P95 500.0 ms > 400.0 ms")


def test_requests_scale_with_the_load_in_flight():
    assert [point_requests(in_flight("concurrency", c, None)) for c in (1, 5, 8, 64)] == [21, 21, 32, 256]
    assert point_requests(in_flight("rate", 100.0, None)) == 21  # nothing measured yet
    assert point_requests(in_flight("rate", 100.0, 0.5)) == 200  # Little's law: 50 in flight


def test_the_lines_say_the_knee_the_failure_the_planner_and_the_cost():
    found = search(Axis("concurrency", 1, 256), step(8))
    data = found.to_dict() | {"slo": "custom (TTFT ≤ 150 ms)", "planner": {"problem": "no model config: pass X"}}
    data = json.loads(json.dumps(data))  # what the results file gives back
    lines = saturation_lines("test_saturation[concurrency]", data)
    assert lines[0] == (
        "test_saturation[concurrency]: SLO custom (TTFT ≤ 150 ms): holds up to 8 streams, fails at 9 streams "
        "(the knee within 1 stream or 10 % of the load, whichever is more)"
    )
    assert lines[2] == "  failed at  9 streams: over" and lines[3] == "  planner    not run: no model config: pass X"
    assert lines[4].startswith("  search     8 points (held: 1, 2, 4, 8; failed: 16, 12, 10, 9; in the order")


def test_the_fake_server_queues_streams_beyond_max_running():
    """Two slots, four streams at once: the two queued start only after a running one ended (the order of
    the server's own send times, not a duration)."""
    with start_fake_server("--max-running", "2", "--ttft", "0.05", "--itl", "0.01") as server:
        requests = [LoadRequest(f"prompt {i}", SamplingParams(max_new_tokens=4, ignore_eos=True)) for i in range(4)]
        run = run_load(Endpoint(server.url, "fake-model"), requests, LoadShape(concurrency=4))
        sent = json.loads(urllib.request.urlopen(server.url + "/x_sent_times").read())
    assert len(run.completed) == 4
    by_start = sorted(sent.values(), key=lambda times: times[0])
    first_end = min(times[-1] for times in by_start[:2])
    assert all(times[0] >= first_end for times in by_start[2:]), sent


def test_the_planner_line_plans_the_named_memory_or_says_why_not():
    from pytest_ascend_llm.planning.for_server import server_plan
    from pytest_ascend_llm.session import LLMSession
    from pytest_ascend_llm.settings import Settings

    with LLMSession(Settings.from_values({"device": "cpu", "capacity_memory": "1"})) as planned:
        plan = server_plan(planned)
    assert plan["max_running_requests"] > 0 and "on 1.00 GiB of device memory" in plan["line"]
    with LLMSession(Settings.from_values({"device": "cpu"})) as unplanned:
        problem = server_plan(unplanned)["problem"]
    assert problem == "a cpu server: pass --llm-capacity-memory GIB, or --llm-device npu|cuda for a server on this host"
