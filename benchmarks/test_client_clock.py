"""Is the load generator's clock exact, and is it never the bottleneck? Against the fake OpenAI server
(its own process, pinned to the other core) with a fixed TTFT and a fixed gap per token, the client
(pinned to one core) measures every request; the server reports when each chunk actually left it, so
the client's error is measured against what the server did, its own lateness excluded.

    pytest benchmarks/test_client_clock.py -s
"""

from __future__ import annotations

import os
import statistics

import httpx
import pytest

from pytest_ascend_llm.engines.base import SamplingParams
from pytest_ascend_llm.serving.client import Endpoint
from pytest_ascend_llm.serving.load import LoadRequest, LoadShape, run_load
from pytest_ascend_llm.testing.fake_server import start_fake_server

TTFT, ITL, TOKENS = 0.2, 0.05, 20


def _pin(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(pid, {core})


@pytest.mark.parametrize("streams", [1, 256])
def test_client_clock_against_the_servers_own_send_times(streams, capsys):
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    with start_fake_server("--ttft", str(TTFT), "--itl", str(ITL)) as server:
        _pin(server.process.pid, 1)
        _pin(0, 0)
        try:
            count = max(20, 2 * streams)
            requests = [LoadRequest(f"request{i} a b", SamplingParams(max_new_tokens=TOKENS)) for i in range(count)]
            cpu = os.times()
            run = run_load(Endpoint.parse(server.url, model="fake-model"), requests, LoadShape(concurrency=streams))
            cpu_used = sum(os.times()[:2]) - sum(cpu[:2])
            truth = httpx.get(server.url + "/x_sent_times").json()
        finally:
            if before is not None:
                os.sched_setaffinity(0, before)
    ttft_error, tpot_error = [], []
    for record in run.records:
        sent = truth[f"request{record.index} a b"]
        ttft_error.append(record.ttft - sent[0])
        tpot_error.append(record.tpot / ((sent[-1] - sent[0]) / (len(sent) - 1)) - 1)
    ttft_error.sort()
    tpot_error.sort(key=abs)
    line = (
        f"\n{streams} stream(s), {len(run.records)} requests, TTFT {TTFT * 1e3:g} ms, gap {ITL * 1e3:g} ms: "
        f"client TTFT error median {statistics.median(ttft_error) * 1e3:.2f} ms, "
        f"P95 {ttft_error[int(0.95 * (len(ttft_error) - 1))] * 1e3:.2f} ms, max {ttft_error[-1] * 1e3:.2f} ms "
        f"({statistics.median(ttft_error) / TTFT:.1%} of TTFT at the median); TPOT error median "
        f"{statistics.median(tpot_error):+.2%}, largest {tpot_error[-1]:+.2%}; client CPU {cpu_used:.2f} s "
        f"in {run.duration:.2f} s"
    )
    with capsys.disabled():
        print(line)
    assert run.counts()["completed"] == len(requests)
