"""The load generator across client worker processes, against the real fake server on loopback: the
streams divided, every request accounted for, one time base, a dead worker's requests kept as failed
records, and a starved client flagged as the bottleneck."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager

import pytest

from pytest_ascend_llm.engines.base import SamplingParams
from pytest_ascend_llm.serving import workers
from pytest_ascend_llm.serving.client import Endpoint
from pytest_ascend_llm.serving.load import LoadRequest, LoadShape, run_load, split
from pytest_ascend_llm.serving.records import COMPLETED, FAILED
from pytest_ascend_llm.serving.summary import load_case
from pytest_ascend_llm.testing.fake_server import start_fake_server

TTFT = 0.05
PARAMS = SamplingParams(max_new_tokens=6, ignore_eos=True)


def _requests(count: int) -> list[LoadRequest]:
    return [LoadRequest(f"request {i}", PARAMS) for i in range(count)]


def _in_flight(records) -> int:
    """The most requests between their write and their last token at any one moment."""
    events = sorted([(r.sent, 1) for r in records] + [(r.due + r.e2e, -1) for r in records])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_split_gives_every_stream_and_request_to_one_worker():
    endpoint = Endpoint("http://127.0.0.1:1")
    shares = split(endpoint, _requests(30), LoadShape(concurrency=7), 3)
    assert [share.streams for share in shares] == [3, 2, 2]
    assert sorted(index for share in shares for index, *_ in share.items) == list(range(30))
    assert all(index % 7 % 3 == share.worker for share in shares for index, *_ in share.items)
    assert [share.streams for share in split(endpoint, _requests(10), LoadShape(rate=5.0), 4)] == [None] * 4
    assert len(split(endpoint, _requests(10), LoadShape(concurrency=1), 4)) == 1


def test_two_workers_share_the_streams_on_one_time_base():
    with start_fake_server("--ttft", str(TTFT), "--itl", "0.005") as server:
        run = run_load(
            Endpoint.parse(server.url, model="fake-model"), _requests(40), LoadShape(concurrency=8), workers=2
        )
    assert [r.index for r in run.records] == list(range(40)) and {r.status for r in run.records} == {COMPLETED}
    assert run.client.processes == 2 and len(run.client.workers) == 2
    assert all(worker.wall_s > 0 and worker.lag_s for worker in run.client.workers)
    # a first token can only follow the write by the server's TTFT: a second time base would break this
    assert all(r.first_token_at - r.sent >= TTFT - 0.002 for r in run.records)
    assert all(r.sent >= r.due >= 0 for r in run.records)
    assert _in_flight(run.records) <= 8
    case = load_case("c8", run)
    assert case.metrics()["ttft_n"] == 40 == len(case.request_details)
    assert case.extra["client_workers"] == 2 and case.extra["client_wait_n"] == 40


def test_poisson_requests_are_due_at_their_offsets_in_every_worker():
    shape = LoadShape(rate=40.0, seed=3)
    with start_fake_server("--itl", "0.001") as server:
        run = run_load(Endpoint.parse(server.url, model="fake-model"), _requests(16), shape, workers=2)
    assert [round(r.due, 9) for r in run.records] == [round(o, 9) for o in shape.arrivals(16)]
    assert all(r.completed and r.sent >= r.due for r in run.records)


def test_a_dead_worker_leaves_its_requests_as_failed_records_naming_it():
    pool = workers.WorkerPool(2)
    try:
        pool.workers[1].process.kill()
        pool.workers[1].process.wait()
        with start_fake_server("--itl", "0.001") as server:
            shares = split(Endpoint.parse(server.url, model="fake-model"), _requests(12), LoadShape(concurrency=4), 2)
            _, records, _ = pool.run(shares)
    finally:
        pool.close()
    assert sorted(r.index for r in records) == list(range(12))
    dead = [r for r in records if r.status == FAILED]
    assert sorted(r.index for r in dead) == [i for i in range(12) if i % 4 % 2 == 1]
    assert all("client worker 1 died (exit code -9)" in r.error for r in dead)
    assert all(r.completed for r in records if r.index % 4 % 2 == 0)


def test_the_session_pool_replaces_a_dead_worker():
    first = workers.pool_of(2)
    first.workers[0].process.kill()
    first.workers[0].process.wait()
    assert workers.pool_of(2) is not first and workers.pool_of(2).alive()


@contextmanager
def _starved_core():
    """This process and two busy loops on one core: the client gets a third of it."""
    before = os.sched_getaffinity(0)
    core = min(before)
    hogs = [
        subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{core}}})\nwhile True: pass"])
        for _ in range(2)
    ]
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity (Linux)")
def test_a_starved_client_is_flagged_client_bound_and_a_light_one_is_not():
    with start_fake_server("--ttft", "0.02", "--itl", "0.002", "--chunk-tokens", "1") as server:
        endpoint = Endpoint.parse(server.url, model="fake-model")
        many = [LoadRequest(f"busy {i}", SamplingParams(max_new_tokens=40, ignore_eos=True)) for i in range(96)]
        with _starved_core():
            starved = run_load(endpoint, many, LoadShape(concurrency=32), workers=1)
    bound = load_case("starved", starved).extra.get("client_bound", "")
    assert bound.startswith(("client worker", "the client's event loop", "requests left the client")), bound
    with start_fake_server("--ttft", "0.5", "--itl", "0.01") as server:
        light = run_load(
            Endpoint.parse(server.url, model="fake-model"), _requests(3), LoadShape(concurrency=1), workers=1
        )
    assert "client_bound" not in load_case("light", light).extra
