"""The shipped saturation cases in a real pytest run against the fake OpenAI server with a running batch of
8 (``--max-running 8``): a queued stream waits about one request's time (100 ms to the first token,
1 ms a token), which breaks a TTFT limit of 160 ms, so the concurrency knee is 8 within its resolution
of one stream; the rate search finds a finite knee. Nothing here asserts a time."""

from __future__ import annotations

import json

import pytest

from pytest_ascend_llm.testing.fake_server import start_fake_server

SATURATION = ("--pyargs", "pytest_ascend_llm.suite", "-k", "saturation", "-p", "no:cacheprovider", "-p", "no:randomly")
# Short requests (96/24 tokens: --llm-device cpu) and a rate search from 16 req/s keep the run near 20 s.
ENDPOINT = (
    "--llm-engine", "openai", "--llm-device", "cpu", "--llm-slo", "ttft=160", "--llm-saturation-rate-start", "16",
)  # fmt: skip


@pytest.fixture(scope="module")
def batch_of_8():
    with start_fake_server("--ttft", "0.1", "--itl", "0.001", "--max-running", "8") as running:
        yield running


def test_the_knee_lands_on_the_servers_running_batch(pytester, batch_of_8):
    storage, report = pytester.path / "runs", pytester.path / "report"
    result = pytester.runpytest(
        *SATURATION, *ENDPOINT, "--llm-endpoint", batch_of_8.url, f"--benchmark-storage=file://{storage}",
        "--benchmark-save=sat", f"--llm-report={report}",
    )  # fmt: skip
    result.assert_outcomes(passed=2, deselected=result.parseoutcomes()["deselected"])
    [saved] = storage.rglob("*.json")
    cases = {b["name"].split("::")[-1]: b["extra_info"]["llm"] for b in json.loads(saved.read_text())["benchmarks"]}
    streams = cases["test_saturation[concurrency]"]
    search = streams["saturation"]
    assert (search["outcome"], search["knee"], search["failed"]) == ("knee", 8, 9), search["points"]
    assert streams["load"] == "concurrency 8" and streams["completed"] == 32 == streams["n"]  # the knee is the case
    assert [p["load"] for p in search["points"]] == [1, 2, 4, 8, 16, 12, 10, 9]
    rate = cases["test_saturation[rate]"]["saturation"]
    assert rate["outcome"] == "knee" and 16 <= rate["knee"] < rate["failed"] <= rate["knee"] * 1.1
    result.stdout.fnmatch_lines([
        "*ascend-llm saturation: the highest load within the SLO*",
        "test_saturation[[]concurrency[]]: SLO custom (TTFT ≤ 160 ms): holds up to 8 streams, fails at "
        "9 streams (the knee within 1 stream*",
        "  knee       8 streams: goodput * req/s, output * tok/s, TTFT P95 * ms (n 32), TPOT P95 * ms (n 32)",
        "  failed at  9 streams: TTFT P95 * ms > 160.0 ms",
        "  planner    not run: no model config: pass --llm-model DIR*",
        "  search     8 points (held: 1, 2, 4, 8; failed: 16, 12, 10, 9; in the order measured), * requests, * s",
        "test_saturation[[]rate[]]: SLO custom (TTFT ≤ 160 ms): holds up to * req/s, fails at * req/s*",
    ])  # fmt: skip
    text = (report / "report.md").read_text()
    assert "## Saturation" in text and "| 9 streams | **failed** | 36 |" in text
    assert (report / "saturation-test_saturation_concurrency_.png").exists()


def test_an_in_process_engine_skips_with_the_serving_reason(pytester):
    result = pytester.runpytest(*SATURATION, "--llm-device", "cpu", "-rs")
    result.assert_outcomes(skipped=2, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines(["*serving cases need a server: --llm-engine openai --llm-endpoint URL*"])
