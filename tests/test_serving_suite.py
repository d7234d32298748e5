"""The shipped serving cases in a real pytest run against a real local server (the fake OpenAI server,
whose timing is fixed): selection, the saved JSON, who answered, secrets, and failures that keep data."""

from __future__ import annotations

import json

import pytest

from pytest_ascend_llm.testing.fake_server import start_fake_server

SERVING = ("--pyargs", "pytest_ascend_llm.suite", "-k", "serving", "-p", "no:cacheprovider", "-p", "no:randomly")
SMALL = ("--llm-concurrency", "1,4", "--llm-request-rate", "20", "--llm-serving-requests", "8")


@pytest.fixture(scope="module")
def server():
    with start_fake_server("--ttft", "0.01", "--itl", "0.002", "--model-name", "served-14b") as running:
        yield running


def test_serving_cases_run_against_an_endpoint_and_save_what_they_measured(pytester, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-in-a-report")
    storage = pytester.path / "runs"
    result = pytester.runpytest(
        *SERVING, *SMALL, "-m", "npu", "--llm-engine", "openai", "--llm-endpoint", server.url,
        f"--benchmark-storage=file://{storage}", "--benchmark-save=serve", "--llm-slo", "ttft=1000,tpot=100",
        "--llm-client-workers", "2", "--llm-input-len", "64", "--llm-output-len", "5", "--llm-results", "r.jsonl",
    )  # fmt: skip
    # skipped: test_serving_trace, which needs --llm-trace
    result.assert_outcomes(passed=6, skipped=1, deselected=result.parseoutcomes()["deselected"])
    # the progress line reaches the terminal through pytest's reporter, not captured stderr
    result.stdout.fnmatch_lines(["*test_serving_concurrency[[]c4-random[]] (concurrency 4): 8/8 requests, *"])
    records = [json.loads(line) for line in (pytester.path / "r.jsonl").read_text().splitlines()]
    [sweep_record] = [r for r in records if r.get("case", "").endswith("test_serving_concurrency[c4-random]")]
    detail = sweep_record["requests"]
    assert [r["index"] for r in detail] == list(range(8)) and {r["status"] for r in detail} == {"completed"}
    assert all(r["due_s"] <= r["sent_s"] < r["first_token_s"] < r["end_s"] for r in detail)
    assert {r["output_len"] for r in detail} == {5} and all(r["input_len"] == 64 for r in detail)
    assert sweep_record["metrics"]["client_workers"] == 2
    result.stdout.fnmatch_lines(["*device server http://127.0.0.1:*model served-14b*", "test_serving_concurrency*"])
    [saved] = storage.rglob("*.json")
    text = saved.read_text()
    assert "sk-never-in-a-report" not in text and "sk-never-in-a-report" not in result.stdout.str()
    run = json.loads(text)
    assert run["machine_info"]["llm_stack"]["server"]["models"] == ["served-14b"]
    cases = {bench["name"].split("::")[-1]: bench["extra_info"]["llm"] for bench in run["benchmarks"]}
    sweep = cases["test_serving_concurrency[c4-random]"]
    assert sweep["completed"] == 8 == sweep["n"] == sweep["ttft_n"] and sweep["failed"] == 0
    assert sweep["slo_met"] == 8 and sweep["goodput_requests_per_s"] > 0
    assert sweep["load"] == "concurrency 4" and cases["test_serving_request_rate[rate20-random]"]["load"].startswith(
        "rate 20 req/s (Poisson)"
    )
    assert cases["test_serving_concurrency[c1-shared_prefix]"]["cached_fraction"] > 0.5


def test_serving_cases_skip_with_the_reason_on_an_in_process_engine(pytester):
    result = pytester.runpytest(*SERVING, "--llm-device", "cpu", "-rs")
    result.stdout.fnmatch_lines(["*serving cases need a server: --llm-engine openai --llm-endpoint URL*"])
    assert result.parseoutcomes()["skipped"] >= 4


def test_failed_requests_fail_the_case_but_keep_its_numbers(pytester):
    with start_fake_server("--fail-after-chunks", "2") as broken:
        result = pytester.runpytest(
            *SERVING, "--llm-concurrency", "2", "--llm-request-rate", "20", "--llm-serving-requests", "4",
            "--llm-engine", "openai", "--llm-endpoint", broken.url, "-k", "random",
        )  # fmt: skip
    result.assert_outcomes(failed=2, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines(["*4 failed of 4: 4× the connection to http://127.0.0.1:*broke mid-answer*"])
    result.stdout.fnmatch_lines(["test_serving_concurrency *failed*", "c2-random * 4*", "rate20-random * 4*"])


def test_an_unreachable_endpoint_is_one_line(pytester):
    from pytest_ascend_llm.serving.server_process import free_port

    result = pytester.runpytest(*SERVING, "--llm-engine", "openai", "--llm-endpoint", f"http://127.0.0.1:{free_port()}")
    result.stderr.fnmatch_lines(["ERROR: cannot connect to http://127.0.0.1:*/v1/models*: start the server, or fix*"])
    assert result.ret != 0 and "Traceback" not in result.stdout.str() + result.stderr.str()
