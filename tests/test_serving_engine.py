"""The server engines' client, load generator and server lifecycle, against real local servers (the
fake OpenAI server of ``testing.fake_server`` in its own process, on loopback): formats, counts, every
failure mode as one line, request accounting, and the process tree killed at the end."""

from __future__ import annotations

import sys

import psutil
import pytest

from pytest_ascend_llm.engines.base import SamplingParams
from pytest_ascend_llm.engines.openai_engine import OpenAIEngine
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.serving.client import Endpoint, EndpointError
from pytest_ascend_llm.serving.load import LoadRequest, LoadShape, run_load
from pytest_ascend_llm.serving.records import FAILED, REASON_LIMIT, TIMED_OUT, reason_line
from pytest_ascend_llm.serving.server_process import ServerProcess, free_port
from pytest_ascend_llm.serving.slo import PRESETS, parse_slo
from pytest_ascend_llm.serving.summary import load_case
from pytest_ascend_llm.testing.fake_server import start_fake_server

PARAMS = SamplingParams(max_new_tokens=6, ignore_eos=True)


def _engine(server, **kwargs) -> OpenAIEngine:
    return OpenAIEngine(Endpoint.parse(server.url + "/v1", model="fake-model", **kwargs))


def test_streamed_completions_text_ids_and_chat_count_tokens_from_usage():
    with start_fake_server("--ttft", "0.03", "--itl", "0.004") as server:
        engine = _engine(server)
        chat = engine.format_chat([{"role": "user", "content": "two words"}])
        text, ids, answer = engine.generate(["one two three", [5, 6, 7, 8], chat], PARAMS)
    assert [r.output_tokens for r in (text, ids, answer)] == [6, 6, 6]
    assert [r.prompt_tokens for r in (text, ids, answer)] == [3, 4, 2]
    assert text.text == "t0 t1 t2 t3 t4 t5 " == answer.text
    assert all(r.ttft >= 0.03 for r in (text, ids, answer)), "a chunk cannot arrive before the server sent it"
    assert text.tpot > 0 and len(text.itl) == 5 == len(text.itl_per_chunk)


def test_multi_token_chunks_keep_both_itl_conventions():
    """Speculative-style chunks of 3 tokens: per-token ITL (SGLang) has a gap per token, per-chunk ITL
    (vLLM) one per chunk; the counts come from the server's continuous usage."""
    with start_fake_server("--chunk-tokens", "3", "--itl", "0.003") as server:
        [result] = _engine(server).generate(["a b"], SamplingParams(max_new_tokens=9, ignore_eos=True))
    assert [chunk.count for chunk in result.chunks] == [3, 3, 3]
    assert len(result.itl_per_chunk) == 2 and len(result.itl) == 6
    assert result.output_tokens == 9


def test_prefix_cache_hits_are_read_from_usage_and_flushed():
    with start_fake_server() as server:
        engine = _engine(server)
        prompt = " ".join(f"w{i}" for i in range(40))
        engine.generate([prompt], PARAMS)
        [warm] = engine.generate([prompt + " more"], PARAMS)
        engine.flavour = None
        assert warm.cached_tokens == 40
        from pytest_ascend_llm.serving.flavours import VLLM

        engine.flavour = VLLM
        assert engine.flush_cache()
        [cold] = engine.generate([prompt], PARAMS)
    assert cold.cached_tokens == 0


def test_a_closed_port_is_one_line_naming_the_option():
    endpoint = Endpoint(f"http://127.0.0.1:{free_port()}", "m", timeout=5)
    refused = r"cannot connect to http://127\.0\.0\.1:\d+/v1/completions .*--llm-endpoint"
    with pytest.raises(EndpointError, match=refused):
        OpenAIEngine(endpoint).generate(["x"], PARAMS)


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        (("--status", "503"), FAILED, "answered HTTP 503: injected status 503"),
        (("--fail-after-chunks", "2"), FAILED, "broke mid-answer"),
        (("--hang",), TIMED_OUT, "no answer from http://127.0.0.1"),
    ],
    ids=["http-503", "stream-cut", "timeout"],
)
def test_every_failed_request_is_accounted_for_with_its_reason(fault, status, reason):
    with start_fake_server(*fault) as server:
        endpoint = Endpoint.parse(server.url, model="fake-model", timeout=1.0)
        run = run_load(endpoint, [LoadRequest("a b", PARAMS)] * 4, LoadShape(concurrency=2))
    assert [r.status for r in run.records] == [status] * 4
    assert reason in run.records[0].error and "\n" not in run.records[0].error
    assert run.failure_summary().startswith(f"4 {status} of 4: 4×")
    case = load_case("c", run, parse_slo("mlperf-llama3.1-8b"))
    assert case.extra["completed"] == 0 and case.extra[status.replace(" ", "_")] == 4
    assert case.extra["goodput_requests_per_s"] == 0


@pytest.mark.parametrize("fault", [("--status", "500"), ("--fail-after-chunks", "2")], ids=["http-500", "stream-cut"])
def test_a_failed_request_is_one_line_with_its_reason_never_an_object_dump(fault):
    with start_fake_server(*fault) as server:
        endpoint = Endpoint.parse(server.url, model="fake-model", timeout=5.0)
        run = run_load(endpoint, [LoadRequest("a b", PARAMS)] * 3, LoadShape(concurrency=3))
    failed = [record for record in run.records if not record.completed]
    assert len(failed) == 3
    for record in failed:
        error = record.error
        assert error and "\n" not in error and "<" not in error and "Traceback" not in error, error
        assert len(error) <= REASON_LIMIT and "http://127.0.0.1:" in error, error


def test_a_reason_keeps_the_first_line_names_objects_by_class_and_stops_at_the_limit():
    dump = "ReadError: <httpcore._async.connection.AsyncHTTPConnection object at 0x7f3a2c1b5d90> reset\n  File x"
    assert reason_line(dump) == "ReadError: AsyncHTTPConnection reset"
    assert reason_line("\n\n  spaced   out \nsecond") == "spaced out"
    long = reason_line("x" * 1000)
    assert len(long) == REASON_LIMIT and long.endswith("…")


def test_poisson_arrivals_are_seeded_and_sent_at_their_offsets():
    shape = LoadShape(rate=20.0, seed=3)
    offsets = shape.arrivals(8)
    assert offsets == LoadShape(rate=20.0, seed=3).arrivals(8) and offsets[0] == 0.0
    assert offsets == sorted(offsets) and offsets != LoadShape(rate=20.0, seed=4).arrivals(8)
    with start_fake_server("--itl", "0.001") as server:
        run = run_load(Endpoint.parse(server.url, model="fake-model"), [LoadRequest("a", PARAMS)] * 8, shape)
    assert all(record.sent >= offset - 1e-6 for record, offset in zip(run.records, offsets))
    assert run.counts() == {"completed": 8, "failed": 0, "timed out": 0}


def test_run_figures_follow_bench_serve_definitions():
    with start_fake_server("--ttft", "0.02", "--itl", "0.002") as server:
        run = run_load(Endpoint.parse(server.url, model="fake-model"), [LoadRequest("a b c", PARAMS)] * 6, LoadShape(3))
    slo = parse_slo("ttft=10000,tpot=10000")
    metrics = load_case("c", run, slo).metrics()
    assert metrics["output_tokens_per_s"] == pytest.approx(36 / run.duration)
    assert metrics["total_tokens_per_s"] == pytest.approx((36 + 18) / run.duration)
    assert metrics["requests_per_s"] == pytest.approx(6 / run.duration)
    assert metrics["tokens_per_s"] == metrics["output_tokens_per_s"]
    assert metrics["goodput_requests_per_s"] == metrics["requests_per_s"] and metrics["slo_met"] == 6
    assert metrics["n"] == 6 == metrics["ttft_n"] and len(metrics["samples"]["itl"]) == 30
    assert 0 < metrics["achieved_concurrency"] <= 3.0 + 1e-9


def test_slo_presets_and_custom_limits():
    assert parse_slo("mlperf-llama2-70b-interactive").ttft == PRESETS["mlperf-llama2-70b-interactive"]["ttft"] / 1e3
    custom = parse_slo("ttft=500, e2e=20000")
    assert (custom.ttft, custom.tpot, custom.e2e) == (0.5, None, 20.0)
    with pytest.raises(LLMSetupError, match="--llm-slo 'ttft=fast'.*mlperf-llama3.1-8b"):
        parse_slo("ttft=fast")


def test_the_api_key_goes_only_into_the_header():
    endpoint = Endpoint.parse("http://127.0.0.1:1/v1", model="m", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(endpoint) and endpoint.headers == {"Authorization": "Bearer sk-very-secret"}
    assert Endpoint.parse("http://user:pw@127.0.0.1:9/v1").shown == "http://127.0.0.1:9"


def test_a_launched_server_is_health_checked_and_its_whole_tree_killed(tmp_path):
    port = free_port()
    argv = [sys.executable, "-m", "pytest_ascend_llm.testing.fake_server", "--port", str(port)]
    server = ServerProcess(argv, tmp_path / "server.log", f"http://127.0.0.1:{port}/health").start(timeout=30)
    pid = server.process.pid
    assert server.running
    server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_server_that_never_becomes_healthy_fails_in_one_line_with_its_log(tmp_path):
    port = free_port()
    argv = [sys.executable, "-m", "pytest_ascend_llm.testing.fake_server", "--port", str(port), "--never-healthy"]
    server = ServerProcess(argv, tmp_path / "server.log", f"http://127.0.0.1:{port}/health")
    unhealthy = r"not healthy within 2 s \(raise --llm-server-timeout; log .*server\.log\)"
    with pytest.raises(LLMSetupError, match=unhealthy):
        server.start(timeout=2)
    assert not server.running


def test_a_server_that_exits_at_start_shows_its_log_tail(tmp_path):
    argv = [sys.executable, "-c", "import sys; print('CUDA error: no device'); sys.exit(3)"]
    server = ServerProcess(argv, tmp_path / "server.log", "http://127.0.0.1:1/health")
    with pytest.raises(LLMSetupError, match=r"exited with code 3 before it was healthy .*CUDA error: no device"):
        server.start(timeout=30)


def test_a_mid_stream_error_names_the_endpoint():
    """vLLM's engine dying mid-stream sends an error event; the reason must still say which server."""
    from pytest_ascend_llm.serving.client import describe_failure

    endpoint = Endpoint.parse("http://127.0.0.1:8000/v1")
    error = EndpointError("the server reported an error mid-stream: EngineCore encountered an issue")
    status, reason = describe_failure(endpoint, "/v1/completions", error)
    assert status == FAILED and reason.startswith("http://127.0.0.1:8000/v1/completions: the server reported")
    named = EndpointError("http://127.0.0.1:8000/v1/completions answered HTTP 503: busy")
    assert describe_failure(endpoint, "/v1/completions", named)[1] == str(named)


def test_sglangs_speculative_accept_length_is_read_from_get_server_info():
    from pytest_ascend_llm.serving.flavours import SGLANG, VLLM

    with start_fake_server("--chunk-tokens", "3") as server:
        engine = _engine(server)
        assert engine.speculative_accept_length() is None  # a plain endpoint does not say
        engine.flavour = SGLANG
        assert engine.speculative_accept_length() == 3.0
        engine.flavour = VLLM
        assert engine.speculative_accept_length() is None


def test_malformed_and_truncated_streams_are_one_line_each():
    """SSE lines as a broken proxy or server would send them, fed to the reader that timestamps chunks."""
    from pytest_ascend_llm.serving.client import StreamReader
    from pytest_ascend_llm.serving.records import RequestRecord

    reader = StreamReader(RequestRecord(0), 0.0)
    with pytest.raises(EndpointError, match=r"malformed stream event \(not JSON\): b'\{\"choices\": \[\{\"text'"):
        reader.read([b'data: {"choices": [{"text'], 0.1)
    cut = StreamReader(RequestRecord(1), 0.0)
    cut.read([b'data: {"choices": [{"text": "a"}], "usage": {"completion_tokens": 1}}'], 0.1)
    with pytest.raises(EndpointError, match=r"ended without \[DONE\] after 1 token chunks"):
        cut.finish()
    done = StreamReader(RequestRecord(2), 0.0)
    for line in (
        b": keep-alive",
        b'data: {"choices": [{"text": "a b"}], "usage": {"completion_tokens": 2}}',
        b'data: {"choices": [], "usage": {"completion_tokens": 3, "prompt_tokens": 5}}',
        b"data: [DONE]",
    ):
        done.read([line], 0.2)
    record = done.finish()
    assert [c.count for c in record.chunks] == [3] and record.prompt_tokens == 5 and record.text == "a b"


def test_events_read_together_are_one_chunk_not_zero_gaps():
    """Three events in one read (a busy client, or a server flushing several at once) become one chunk
    of three tokens marked as three events: ITL shares the gap since the last read, never 0 ms."""
    from pytest_ascend_llm.metrics import timing
    from pytest_ascend_llm.serving.client import StreamReader
    from pytest_ascend_llm.serving.records import RequestRecord

    reader = StreamReader(RequestRecord(0), 10.0)
    event = b'data: {"choices": [{"text": "x"}]}'
    reader.read([event], 10.1)
    reader.read([event, b"", event, b"", event], 10.4)
    reader.read([event, b"", b"data: [DONE]"], 10.5)
    record = reader.finish()
    assert [(round(c.time, 6), c.count, c.events) for c in record.chunks] == [(0.1, 1, 1), (0.4, 3, 3), (0.5, 1, 1)]
    assert [round(gap, 6) for gap in timing.itl(record.chunks)] == [0.1, 0.1, 0.1, 0.1]
    assert 0.0 not in timing.itl(record.chunks)


LOGPROBS = SamplingParams(max_new_tokens=5, ignore_eos=True, logprobs=3)


def _positions(result) -> list[tuple]:
    return [(p.token, p.logprob, p.top, p.text) for p in result.logprobs]


def test_logprobs_come_through_completions_and_chat_as_token_ids_and_repeat_exactly():
    from pytest_ascend_llm.testing.fake_server import token_id

    with start_fake_server("--itl", "0.001") as server:
        engine = _engine(server)
        chat = engine.format_chat([{"role": "user", "content": "one two three"}])
        text, answer = engine.generate(["one two three", chat], LOGPROBS)
        again = engine.generate(["one two three", chat], LOGPROBS)
        [plain] = engine.generate(["one two three"], SamplingParams(max_new_tokens=5, ignore_eos=True))
    for result in (text, answer):
        assert [p.token for p in result.logprobs] == [token_id(f"t{i}") for i in range(5)]  # "token_id:N" read
        assert all(p.text is None and len(p.top) == 3 and p.top[0] == (p.token, p.logprob) for p in result.logprobs)
        assert all([v for _, v in p.top] == sorted((v for _, v in p.top), reverse=True) for p in result.logprobs)
        assert all(p.margin >= 1.0 for p in result.logprobs)
    assert _positions(text) == _positions(answer)  # the same prompt words: the same fake logprobs
    assert [_positions(r) for r in again] == [_positions(text), _positions(answer)]
    assert plain.logprobs is None and plain.text == text.text == "t0 t1 t2 t3 t4 "


def test_jitter_moves_logprobs_and_flip_changes_the_token_at_its_position():
    with start_fake_server() as reference, start_fake_server("--logprob-jitter", "0.2") as jittered:
        [base] = _engine(reference).generate(["a b c"], LOGPROBS)
        [moved] = _engine(jittered).generate(["a b c"], LOGPROBS)
        [moved_again] = _engine(jittered).generate(["a b c"], LOGPROBS)
    with start_fake_server("--flip-after", "2") as flipping:
        [flipped] = _engine(flipping).generate(["a b c"], LOGPROBS)
    assert [p.token for p in moved.logprobs] == [p.token for p in base.logprobs] and moved.text == base.text
    differences = [abs(a.logprob - b.logprob) for a, b in zip(moved.logprobs, base.logprobs)]
    assert all(d <= 0.2 for d in differences) and max(differences) > 0
    assert _positions(moved_again) == _positions(moved)  # seeded: the same jitter every time
    changed = [i for i, (a, b) in enumerate(zip(flipped.logprobs, base.logprobs)) if a.token != b.token]
    assert changed == [2] and flipped.logprobs[2].token == base.logprobs[2].top[1][0]  # the runner-up won
    assert flipped.text.split()[:2] == base.text.split()[:2] and flipped.text.split()[2] != "t2"


def test_requests_without_logprobs_are_the_same_bytes_as_before():
    import json

    from pytest_ascend_llm.serving.client import ChatMessages, request_body

    params = SamplingParams(max_new_tokens=4, top_k=5, seed=1)
    before = {
        "max_tokens": 4, "temperature": 0.0, "top_p": 1.0, "ignore_eos": False, "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True}, "top_k": 5, "seed": 1, "model": "m",
    }  # fmt: skip
    messages = ChatMessages(({"role": "user", "content": "hi"},))
    path, completion = request_body("a b", params, "m")
    assert path == "/v1/completions" and json.dumps(completion) == json.dumps(before | {"prompt": "a b"})
    path, chat = request_body(messages, params, "m")
    assert path == "/v1/chat/completions"
    assert json.dumps(chat) == json.dumps(before | {"messages": [{"role": "user", "content": "hi"}]})
    asked = SamplingParams(max_new_tokens=4, logprobs=2)
    completion = request_body([1, 2], asked, None)[1]
    assert {k: completion[k] for k in ("logprobs", "return_tokens_as_token_ids")} == {
        "logprobs": 2, "return_tokens_as_token_ids": True,
    }  # fmt: skip
    chat = request_body(messages, asked, None)[1]
    assert {k: chat[k] for k in ("logprobs", "top_logprobs", "return_tokens_as_token_ids")} == {
        "logprobs": True, "top_logprobs": 2, "return_tokens_as_token_ids": True,
    }  # fmt: skip


def test_logprobs_of_servers_that_name_tokens_by_text_are_sorted_and_capped():
    """vLLM's completions top_logprobs adds the chosen token as a (k+1)-th when it is not among the k, and
    chat's list need not be sorted (the sampled token first); servers ignoring return_tokens_as_token_ids
    send text. Without usage, a chunk's logprobs count its tokens."""
    import json

    from pytest_ascend_llm.serving.client import StreamReader
    from pytest_ascend_llm.serving.records import RequestRecord
    from pytest_ascend_llm.serving.summary import as_generation

    completion = {
        "tokens": ["Hel", "lo"],
        "token_logprobs": [-2.5, -0.1],
        "text_offset": [0, 3],
        "top_logprobs": [{"Hel": -2.5, "Hi": -0.3, "Hey": -1.0}, {"lo": -0.1, "token_id:7": -3.0}],
    }
    chat = {
        "content": [
            {
                "token": "token_id:42",
                "logprob": -0.7,
                "bytes": [],
                "top_logprobs": [{"token": "token_id:42", "logprob": -0.7}, {"token": "x", "logprob": -0.2}],
            }
        ]
    }
    reader = StreamReader(RequestRecord(0), 0.0, top_logprobs=2)
    for line in (
        {"choices": [{"text": "Hello", "logprobs": completion}]},
        {"choices": [{"delta": {"content": "!"}, "logprobs": chat, "finish_reason": "stop"}]},
    ):
        reader.read([b"data: " + json.dumps(line).encode()], 0.1)
    reader.read([b"data: [DONE]"], 0.2)
    result = as_generation(reader.finish())
    hel, lo, bang = result.logprobs
    assert (hel.token, hel.logprob, hel.top, hel.text) == ("Hel", -2.5, (("Hi", -0.3), ("Hey", -1.0)), "Hel")
    assert lo.top == (("lo", -0.1), (7, -3.0)) and lo.margin == pytest.approx(2.9)
    assert (bang.token, bang.text, bang.top) == (42, None, (("x", -0.2), (42, -0.7)))
    assert [chunk.count for chunk in result.chunks] == [2, 1] and result.output_tokens == 3
