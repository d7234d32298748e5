"""A real vLLM CPU server serving the built-in model, launched by the ``vllm-server`` engine: streaming,
usage counts, cached tokens and their flush, greedy output equal to the transformers engine's, the
shipped serving and compatibility cases through ``--llm-engine openai``, and the failure modes a real
server has (never healthy in time; killed mid-run).

The server's harness (its Python, sizing, launch) is ``vllm_harness.py``; without vLLM these tests skip.
"""

from __future__ import annotations

import json
import threading

import pytest
from vllm_harness import NEEDS_VLLM, launched_vllm, vllm_settings

from pytest_ascend_llm.engines.base import SamplingParams
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.serving.load import LoadRequest, LoadShape, run_load
from pytest_ascend_llm.session import LLMSession
from pytest_ascend_llm.settings import Settings

pytestmark = NEEDS_VLLM
GREEDY = SamplingParams(max_new_tokens=16, ignore_eos=True)


@pytest.fixture(scope="module")
def vllm(tmp_path_factory):
    yield from launched_vllm(tmp_path_factory)


@pytest.fixture(scope="module")
def transformers_session():
    with LLMSession(Settings.from_values({"device": "cpu"})) as session:
        yield session


def test_streams_count_tokens_and_greedy_output_equals_transformers(vllm, transformers_session):
    prompt = "The quick brown fox"
    ids = transformers_session.engine.encode(prompt)
    [served] = vllm.engine.generate([ids], GREEDY)
    [local] = transformers_session.engine.generate([ids], GREEDY)
    assert served.output_tokens == 16 == local.output_tokens and served.prompt_tokens == len(ids)
    # one chunk per token, unless the server coalesced tokens a slow client had not read yet
    assert sum(chunk.count for chunk in served.chunks) == 16 and served.ttft <= served.e2e
    assert served.text == local.text
    assert vllm.engine.encode(prompt) == ids, "the server's /tokenize and the local tokenizer agree"


def test_prefix_cache_hits_are_reported_and_flushed(vllm, transformers_session):
    from pytest_ascend_llm.suite.prompts import prompt_of_length

    prompt = prompt_of_length(transformers_session.engine.encode, 200)
    vllm.engine.flush_cache()
    [cold] = vllm.engine.generate([prompt], SamplingParams(max_new_tokens=2))
    [warm] = vllm.engine.generate([prompt], SamplingParams(max_new_tokens=2))
    assert cold.cached_tokens == 0 and warm.cached_tokens >= 128
    assert vllm.engine.flush_cache()
    [flushed] = vllm.engine.generate([prompt], SamplingParams(max_new_tokens=2))
    assert flushed.cached_tokens == 0


def test_the_header_and_stack_name_the_server_that_answered(vllm):
    server = vllm.environment.to_dict()["server"]
    assert server["models"] == ["builtin-tiny-qwen2"] and server["version"]["version"]
    assert vllm.source.builtin, "quality checks know the built-in model behind the server"


def test_shipped_cases_run_against_the_endpoint(vllm, pytester):
    """The serving sweep and the compatibility cases a server can answer, through --llm-engine openai."""
    result = pytester.runpytest(
        "--pyargs", "pytest_ascend_llm.suite", "-p", "no:cacheprovider", "-rs",
        "-k", "serving or inference or batching or long_context",
        "--llm-engine", "openai", "--llm-endpoint", vllm.engine.endpoint.url, "--llm-device", "cpu",
        "--llm-concurrency", "1,4", "--llm-request-rate", "8", "--llm-serving-requests", "8",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes["passed"] >= 8
    result.stdout.fnmatch_lines(["*device server http://127.0.0.1:*model builtin-tiny-qwen2*"])


def test_a_soak_against_the_server_watches_its_listener_and_counts_every_request(vllm, pytester, capfd):
    """A real soak through --llm-engine openai: the server found as the listener on its loopback port, its
    RSS read in every window, every request counted, none failed. Whether a young CPU server's memory or
    latency holds still over seconds is the server's own business, so the verdicts' form is asserted,
    not their outcome (CI prints them)."""
    storage = pytester.path / "runs"
    result = pytester.runpytest(
        "--pyargs", "pytest_ascend_llm.suite", "-p", "no:cacheprovider", "-p", "no:randomly", "-k", "soak",
        "--llm-engine", "openai", "--llm-endpoint", vllm.engine.endpoint.url, "--llm-device", "cpu",
        "--llm-soak-seconds", "16", "--llm-soak-window", "4",
        f"--benchmark-storage=file://{storage}", "--benchmark-save=soak",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*ascend-llm soak: memory growth, latency drift, errors*", "test_soak: 16 s of 4*"])
    assert "soak window 4/4" in capfd.readouterr().err
    [saved] = storage.rglob("*.json")
    [case] = json.loads(saved.read_text())["benchmarks"]
    metrics = case["extra_info"]["llm"]
    soak = metrics["soak"]
    assert soak["server"].startswith("the process listening on 127.0.0.1:") and soak["judged"] == ["server RSS"]
    assert len(soak["windows"]) == 4 and all(w["mib"]["server RSS"] > 0 for w in soak["windows"])
    assert soak["requests"] == sum(w["requests"] for w in soak["windows"]) == metrics["completed"] > 0
    checks = {check["name"] for check in soak["checks"]}
    assert soak["errors"] == 0 and checks == {"growth of server RSS", "latency drift", "errors"}


def test_a_server_that_is_not_healthy_in_time_fails_in_one_line_and_is_stopped():
    with pytest.raises(LLMSetupError, match=r"not healthy within 2 s .*log .*vllm-server\.log") as raised:
        with LLMSession(vllm_settings(server_timeout="2")) as session:
            session.engine  # noqa: B018 (launching the server is the point)
    assert "\n" not in str(raised.value)


def test_killing_the_server_mid_run_accounts_for_every_request(vllm):
    """Last in the module: it kills the module's server."""
    long = SamplingParams(max_new_tokens=480, ignore_eos=True)
    requests = [LoadRequest(f"request {i} of a long run", long) for i in range(16)]
    runs, first_done = [], threading.Event()

    def load() -> None:
        runs.append(run_load(vllm.engine.endpoint, requests, LoadShape(4), lambda done, *_: first_done.set()))

    worker = threading.Thread(target=load)
    worker.start()
    assert first_done.wait(timeout=300)
    vllm.engine.server.stop()
    worker.join(timeout=300)
    [run] = runs
    counts = run.counts()
    assert sum(counts.values()) == 16 and counts["completed"] < 16 and run.failure_summary()
    reasons = {record.error for record in run.records if not record.completed}
    assert all(vllm.engine.endpoint.shown in reason for reason in reasons), reasons
