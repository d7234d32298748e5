"""The timed fake OpenAI server, run as a real subprocess on loopback and read with http.client.

No upper bounds on time anywhere: a loaded machine can only make chunks late, never early.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from pytest_ascend_llm.testing.fake_server import (
    PrefixCache,
    chunk_bounds,
    chunk_deadline,
    output_text,
    start_fake_server,
    token_id,
)
from pytest_ascend_llm.testing.fake_server.answers import answer_words, evaluate, question_value
from pytest_ascend_llm.testing.fake_server.outputs import Output, ranked_words


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """One untimed server shared by the format tests (cache tests reset it first)."""
    with start_fake_server("--port", "0", "--model-name", "tiny", "--max-model-len", "256") as fake:
        yield fake.url


def connect(url: str, timeout: float = 5.0) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def call(url: str, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    connection = connect(url)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def call_json(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, data = call(url, method, path, body)
    return status, json.loads(data)


def read_events(response: http.client.HTTPResponse) -> Iterator[tuple[float, str]]:
    """(arrival time, data) of each server-sent event, in order."""
    while True:
        line = response.readline()
        if not line:
            return
        if line.startswith(b"data: "):
            yield time.monotonic(), line[len(b"data: ") :].decode().rstrip("\n")


def stream(url: str, path: str, body: dict[str, Any]) -> tuple[float, list[tuple[float, str]]]:
    """The send time and the events of one streamed request."""
    connection = connect(url)
    try:
        sent = time.monotonic()
        connection.request("POST", path, body=json.dumps({**body, "stream": True}))
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        return sent, list(read_events(response))
    finally:
        connection.close()


def payloads(events: list[tuple[float, str]]) -> list[Any]:
    """The JSON events, checking that [DONE] is last and only last."""
    assert events[-1][1] == "[DONE]"
    assert all(data != "[DONE]" for _, data in events[:-1])
    return [json.loads(data) for _, data in events[:-1]]


# --- pure parts ---


def test_chunk_plan_and_deadlines() -> None:
    assert chunk_bounds(5, 1) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert output_text(2, 4) == "t2 t3 "
    assert chunk_deadline(100.0, 0.5, 0.25, 0) == 100.5
    assert chunk_deadline(100.0, 0.5, 0.25, 4) == 101.5  # absolute: i * itl, not a sum of sleeps


def test_prefix_cache_matches_longest_earlier_prefix() -> None:
    cache = PrefixCache(capacity=3)
    assert cache.match_and_add("words", ("a", "b", "c")) == 0
    assert cache.match_and_add("words", ("a", "b", "x", "y")) == 2
    assert cache.match_and_add("words", ("a", "b", "x", "z")) == 3
    assert cache.match_and_add("ids", (1, 2)) == 0  # ids and words are separate
    assert cache.match_and_add("words", ("a", "b", "c", "d")) == 2  # ("a", "b", "c") was evicted
    cache.clear()
    assert cache.match_and_add("words", ("a", "b", "x", "z")) == 0


# --- formats ---


def test_service_endpoints(server: str) -> None:
    status, body = call(server, "GET", "/health")
    assert (status, body) == (200, b"")
    assert call_json(server, "GET", "/version") == (200, {"version": "fake-0"})
    status, models = call_json(server, "GET", "/v1/models")
    assert status == 200 and models["object"] == "list"
    assert {k: models["data"][0][k] for k in ("id", "object", "owned_by", "max_model_len")} == {
        "id": "tiny",
        "object": "model",
        "owned_by": "fake",
        "max_model_len": 256,
    }
    assert call_json(server, "GET", "/get_server_info") == (200, {"version": "fake-0", "model_path": "tiny"})
    assert call_json(server, "GET", "/nowhere")[0] == 404
    assert call_json(server, "GET", "/v1/completions")[0] == 405


def test_tokenize(server: str) -> None:
    status, body = call_json(server, "POST", "/tokenize", {"model": "tiny", "prompt": "hello big world hello"})
    assert status == 200
    assert body["count"] == 4 and body["max_model_len"] == 256
    assert body["tokens"] == [token_id("hello"), token_id("big"), token_id("world"), token_id("hello")]
    assert body["tokens"][0] == body["tokens"][3] and all(0 <= t < 1000 for t in body["tokens"])


def test_streaming_completions(server: str) -> None:
    request = {"prompt": "one two three", "max_tokens": 5, "stream_options": {"include_usage": True}}
    _, events = stream(server, "/v1/completions", request)
    chunks = payloads(events)
    *tokens, last = chunks
    assert len(tokens) == 5
    assert [c["choices"][0]["text"] for c in tokens] == ["t0 ", "t1 ", "t2 ", "t3 ", "t4 "]
    assert [c["choices"][0]["finish_reason"] for c in tokens] == [None] * 4 + ["length"]
    assert all(c["object"] == "text_completion" and c["model"] == "tiny" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert last["choices"] == []
    assert last["usage"]["prompt_tokens"] == 3
    assert last["usage"]["completion_tokens"] == 5 and last["usage"]["total_tokens"] == 8
    assert "cached_tokens" in last["usage"]["prompt_tokens_details"]


def test_streaming_without_usage_and_token_id_prompt(server: str) -> None:
    _, events = stream(server, "/v1/completions", {"prompt": [5, 6, 7, 8], "max_tokens": 3})
    chunks = payloads(events)
    assert len(chunks) == 3 and all(c["choices"] for c in chunks)


def test_non_streaming_completions(server: str) -> None:
    status, body = call_json(server, "POST", "/v1/completions", {"prompt": [1, 2, 3, 4, 5, 6], "max_tokens": 4})
    assert status == 200 and body["object"] == "text_completion"
    assert body["choices"][0]["text"] == "t0 t1 t2 t3 " and body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["prompt_tokens"] == 6 and body["usage"]["completion_tokens"] == 4


def test_chat_streaming(server: str) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say three words"}]
    request = {"messages": messages, "max_tokens": 3, "ignore_eos": True, "stream_options": {"include_usage": True}}
    _, events = stream(server, "/v1/chat/completions", request)
    *tokens, last = payloads(events)
    assert all(c["object"] == "chat.completion.chunk" for c in tokens)
    assert "".join(c["choices"][0]["delta"]["content"] for c in tokens) == "t0 t1 t2 "
    assert tokens[0]["choices"][0]["delta"]["role"] == "assistant"
    assert tokens[-1]["choices"][0]["finish_reason"] == "length"
    assert last["choices"] == [] and last["usage"]["prompt_tokens"] == 5  # words of both messages


def test_chat_non_streaming(server: str) -> None:
    request = {"messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}], "max_tokens": 2}
    status, body = call_json(server, "POST", "/v1/chat/completions", request)
    assert status == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "t0 t1 "}
    assert body["usage"]["prompt_tokens"] == 2 and body["usage"]["completion_tokens"] == 2


def test_default_max_tokens_and_keep_alive(server: str) -> None:
    """Two requests on one connection (keep-alive); max_tokens defaults to 16."""
    connection = connect(server)
    try:
        bodies = []
        for _ in range(2):
            connection.request("POST", "/v1/completions", body=json.dumps({"prompt": "hi"}))
            socket_before = connection.sock
            bodies.append(json.loads(connection.getresponse().read()))
            assert connection.sock is socket_before
    finally:
        connection.close()
    assert all(b["usage"]["completion_tokens"] == 16 for b in bodies)


def test_invalid_requests(server: str) -> None:
    status, body = call_json(server, "POST", "/v1/completions", {"prompt": "x", "max_tokens": 0})
    assert status == 400 and body["error"]["code"] == 400 and body["error"]["type"] == "BadRequestError"
    status, body = call_json(server, "POST", "/v1/completions", {"prompt": "x", "max_tokens": 300})
    assert status == 400 and "maximum context length" in body["error"]["message"]
    status, body = call(server, "POST", "/v1/completions", None)
    assert status == 400


def test_prefix_cache_and_resets(server: str) -> None:
    def cached(prompt: str) -> int:
        status, body = call_json(server, "POST", "/v1/completions", {"prompt": prompt, "max_tokens": 1})
        assert status == 200
        return body["usage"]["prompt_tokens_details"]["cached_tokens"]

    assert call(server, "POST", "/reset_prefix_cache")[0] == 200
    assert cached("the shared system prompt then question one") == 0
    assert cached("the shared system prompt then question two") == 6
    assert cached("the shared other") == 2
    assert call(server, "POST", "/reset_prefix_cache") == (200, b"")
    assert cached("the shared system prompt then question two") == 0
    assert cached("the shared system prompt then question three") == 6
    assert call(server, "POST", "/flush_cache")[0] == 200
    assert cached("the shared system prompt then question three") == 0


def test_soak_options_leak_on_demand_and_keep_nothing_per_request_otherwise() -> None:
    """--leak-mib-per-request holds resident memory per request; --cache-prompts 0 and --no-sent-times
    keep nothing per request (the steady server of the soak tests)."""
    import psutil

    request = {"prompt": "the same prompt every time", "max_tokens": 2, "stream": True}
    with start_fake_server("--leak-mib-per-request", "16", "--cache-prompts", "0", "--no-sent-times") as fake:
        before = psutil.Process(fake.process.pid).memory_info().rss
        for _ in range(2):
            _, events = stream(fake.url, "/v1/completions", request | {"stream_options": {"include_usage": True}})
            assert payloads(events)[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
        assert psutil.Process(fake.process.pid).memory_info().rss - before >= 32 * 2**20
        assert call_json(fake.url, "GET", "/x_sent_times") == (200, {})


def test_cached_tokens_in_stream_usage(server: str) -> None:
    call(server, "POST", "/flush_cache")
    request = {"prompt": [9, 8, 7, 6], "max_tokens": 1, "stream_options": {"include_usage": True}}
    stream(server, "/v1/completions", request)
    _, events = stream(server, "/v1/completions", {**request, "prompt": [9, 8, 7, 1]})
    assert payloads(events)[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 3


# --- timing ---


def test_chunks_never_before_their_deadline() -> None:
    """Chunk i (of 2 tokens each) arrives no earlier than send + ttft + i * itl (lower bounds only)."""
    ttft, itl = 0.1, 0.05
    with start_fake_server("--ttft", str(ttft), "--itl", str(itl), "--chunk-tokens", "2") as fake:
        sent, events = stream(fake.url, "/v1/completions", {"prompt": "p", "max_tokens": 5})
        status, info = call_json(fake.url, "GET", "/get_server_info")
        whole_sent = time.monotonic()
        assert call_json(fake.url, "POST", "/v1/completions", {"prompt": "p", "max_tokens": 5})[0] == 200
        whole_done = time.monotonic()
    assert whole_done - whole_sent >= ttft + 2 * itl - 1e-3  # a whole answer comes with its last chunk
    chunks = payloads(events)
    assert [c["choices"][0]["text"] for c in chunks] == ["t0 t1 ", "t2 t3 ", "t4 "]
    for index, (arrived, _) in enumerate(events[:-1]):
        assert arrived - sent >= ttft + index * itl - 1e-3
    assert info["avg_spec_accept_length"] == 2.0


# --- faults ---


def test_fail_after_chunks_cuts_the_stream() -> None:
    with start_fake_server("--fail-after-chunks", "2") as fake:
        connection = connect(fake.url)
        connection.request("POST", "/v1/completions", body=json.dumps({"prompt": "p", "max_tokens": 5, "stream": True}))
        response = connection.getresponse()
        assert response.status == 200
        # read(), not readline(): http.client's readline() ends quietly at a cut chunked body.
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
        connection.close()
        events = [line for line in cut.value.partial.decode().split("\n\n") if line]
        assert len(events) == 2 and all(e.startswith("data: {") for e in events)
        # The server itself is still up.
        assert call(fake.url, "GET", "/health")[0] == 200


def test_status_answers_every_generation_request() -> None:
    with start_fake_server("--status", "503") as fake:
        for path, body in [
            ("/v1/completions", {"prompt": "p", "stream": True}),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": "p"}]}),
        ]:
            status, error = call_json(fake.url, "POST", path, body)
            assert status == 503
            assert error["error"]["code"] == 503 and error["error"]["type"] and error["error"]["message"]
        assert call(fake.url, "GET", "/health")[0] == 200


def test_never_healthy() -> None:
    with start_fake_server("--never-healthy") as fake:
        for _ in range(2):
            assert call(fake.url, "GET", "/health")[0] == 503


def test_hang_makes_the_client_time_out() -> None:
    with start_fake_server("--hang") as fake:
        assert call(fake.url, "GET", "/health")[0] == 200
        connection = connect(fake.url, timeout=0.3)
        connection.request("POST", "/v1/completions", body=json.dumps({"prompt": "p", "stream": True}))
        with pytest.raises(TimeoutError):
            connection.getresponse()
        connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_startup_delay() -> None:
    delay = 0.5
    port = free_port()
    started = time.monotonic()
    with start_fake_server("--port", str(port), "--startup-delay", str(delay), wait_for_line=False) as fake:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            pass  # not listening yet, as expected
        else:  # only possible if this process stalled past the delay
            assert time.monotonic() - started >= delay
        with pytest.raises(RuntimeError):
            _ = fake.url  # not announced yet
        assert fake.wait_listening(timeout=10) == f"http://127.0.0.1:{port}"
        assert time.monotonic() - started >= delay
        assert call(fake.url, "GET", "/health")[0] == 200


def test_start_reports_a_server_that_exits() -> None:
    with pytest.raises(RuntimeError, match="exited"):
        start_fake_server("--status", "200")  # rejected by the argument parser


# --- what the fake model says: logprobs, flips, jitter, answers ---


def test_ranked_alternatives_have_distinct_ids_and_fixed_logprobs() -> None:
    words = ranked_words("t3", 20)
    assert words[:3] == ranked_words("t3", 3) and words[0] == "t3" and len({token_id(w) for w in words}) == 20
    output = Output(("t0", "t1"), "length", key="a b")
    ranked = output.ranked(1, 4)
    assert [word for word, _ in ranked] == ranked_words("t1", 4) and ranked == output.ranked(1, 4)
    values = [value for _, value in ranked]
    assert -0.5 <= values[0] <= -0.01 and all(1.0 <= a - b <= 2.0 for a, b in zip(values, values[1:]))
    assert Output(("t0", "t1"), "length", key="a c").ranked(1, 4) != ranked  # another prompt, other values


def test_flip_swaps_one_token_with_its_runner_up_and_jitter_keeps_the_ranking() -> None:
    plain = Output(tuple(f"t{i}" for i in range(4)), "length", key="p")
    flipped = Output(plain.natural, "length", key="p", flip=2)
    assert flipped.text(0, 4) == f"t0 t1 {ranked_words('t2', 2)[1]} t3 " and plain.text(0, 4) == output_text(0, 4)
    (first, top), (second, runner_up), third = plain.ranked(2, 3)
    assert flipped.ranked(2, 3) == [(second, top), (first, runner_up), third]  # the values stay by rank
    assert all(flipped.ranked(i, 3) == plain.ranked(i, 3) for i in (0, 1, 3))
    jittered = Output(plain.natural, "length", key="p", jitter=0.3)
    for index in range(4):
        moved, base = jittered.ranked(index, 5), plain.ranked(index, 5)
        assert [w for w, _ in moved] == [w for w, _ in base]
        assert all(abs(a[1] - b[1]) <= 0.3 for a, b in zip(moved, base)) and moved != base
        assert [v for _, v in moved] == sorted((v for _, v in moved), reverse=True)
    assert Output(plain.natural, "length", key="p", jitter=0.3, seed=1).ranked(0, 5) != jittered.ranked(0, 5)


def test_arithmetic_questions_are_read_from_the_prompts_last_question() -> None:
    assert evaluate("12 * 7 + 3") == 87 and evaluate("(1 - 4) * -2") == 6 and evaluate("2 ** 3") is None
    assert question_value("Q: What is 1 + 1? Then: what is 12 * (7 + 3) ?") == 120
    assert question_value("What is 7 / 2?") is None and question_value("no question here") is None
    assert answer_words("What is 2 + 2?", 1.0) == ("The", "answer", "is", "4.")
    assert answer_words("What is 2 + 2?", 0.0) == ("The", "answer", "is", "5.")
    assert answer_words("Say hi", 1.0) is None


def test_completions_logprobs_stream_in_vllms_format_with_token_ids(server: str) -> None:
    request = {"prompt": "one two", "max_tokens": 3, "logprobs": 2, "return_tokens_as_token_ids": True}
    _, events = stream(server, "/v1/completions", request)
    chunks = [chunk["choices"][0] for chunk in payloads(events)]
    assert [set(c["logprobs"]) for c in chunks] == [{"text_offset", "token_logprobs", "tokens", "top_logprobs"}] * 3
    assert [c["logprobs"]["tokens"] for c in chunks] == [[f"token_id:{token_id(f't{i}')}"] for i in range(3)]
    assert [c["logprobs"]["text_offset"] for c in chunks] == [[0], [3], [6]]  # characters before each token
    for choice in chunks:
        [top] = choice["logprobs"]["top_logprobs"]
        [chosen] = choice["logprobs"]["tokens"]
        assert len(top) == 2 and max(top, key=top.get) == chosen
        assert top[chosen] == choice["logprobs"]["token_logprobs"][0]
    status, whole = call_json(server, "POST", "/v1/completions", request)
    assert status == 200 and whole["choices"][0]["text"] == "t0 t1 t2 "
    streamed = {key: [v for c in chunks for v in c["logprobs"][key]] for key in chunks[0]["logprobs"]}
    assert whole["choices"][0]["logprobs"] == streamed  # the same values streamed or not, every time
    as_text = call_json(server, "POST", "/v1/completions", {**request, "return_tokens_as_token_ids": False})[1]
    assert as_text["choices"][0]["logprobs"]["tokens"] == ["t0 ", "t1 ", "t2 "]
    single = call_json(server, "POST", "/v1/completions", {**request, "logprobs": 0})[1]
    assert [len(top) for top in single["choices"][0]["logprobs"]["top_logprobs"]] == [1, 1, 1]


def test_chat_logprobs_stream_in_vllms_format(server: str) -> None:
    request = {"messages": [{"role": "user", "content": "one two"}], "max_tokens": 2, "logprobs": True}
    _, events = stream(server, "/v1/chat/completions", {**request, "top_logprobs": 3})
    contents = [chunk["choices"][0]["logprobs"]["content"] for chunk in payloads(events)]
    assert [[entry["token"] for entry in content] for content in contents] == [["t0 "], ["t1 "]]
    for [entry] in contents:
        assert entry["bytes"] == list(entry["token"].encode()) and len(entry["top_logprobs"]) == 3
        assert entry["top_logprobs"][0] == {k: entry[k] for k in ("token", "logprob", "bytes")}
    completion = call_json(server, "POST", "/v1/completions", {"prompt": "one two", "max_tokens": 2, "logprobs": 3})
    values = completion[1]["choices"][0]["logprobs"]["token_logprobs"]
    assert [entry["logprob"] for [entry] in contents] == values  # the same prompt words, the same logprobs
    status, whole = call_json(server, "POST", "/v1/chat/completions", request)
    assert status == 200 and [e["top_logprobs"] for e in whole["choices"][0]["logprobs"]["content"]] == [[], []]
    plain = call_json(server, "POST", "/v1/chat/completions", {**request, "logprobs": False})[1]
    assert plain["choices"][0]["logprobs"] is None


def test_invalid_logprob_requests(server: str) -> None:
    chat = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 1}
    status, body = call_json(server, "POST", "/v1/chat/completions", {**chat, "top_logprobs": 2})
    assert status == 400 and "`logprobs` must be set to true" in body["error"]["message"]
    status, body = call_json(server, "POST", "/v1/chat/completions", {**chat, "logprobs": True, "top_logprobs": 21})
    assert status == 400 and "top_logprobs must be an integer from 0 to 20" in body["error"]["message"]
    status, body = call_json(server, "POST", "/v1/completions", {"prompt": "x", "max_tokens": 1, "logprobs": "2"})
    assert status == 400 and "logprobs must be an integer" in body["error"]["message"]


def test_answer_accuracy_answers_the_hash_chosen_fraction_right_and_stops() -> None:
    """200 distinct questions at --answer-accuracy 0.7: exactly 138 right (0.69; the hash of each prompt
    decides, so the count is fixed), every wrong one off by one, and the answer ends the output."""
    questions = [(f"Answer with a number.\nQuestion: What is {i} * 7 + {i % 5}?", i * 7 + i % 5) for i in range(200)]
    with start_fake_server("--answer-accuracy", "0.7") as fake:
        answers = []
        for prompt, value in questions:
            status, body = call_json(fake.url, "POST", "/v1/completions", {"prompt": prompt, "max_tokens": 16})
            assert status == 200 and body["choices"][0]["finish_reason"] == "stop"
            assert body["usage"]["completion_tokens"] == 4
            answers.append((body["choices"][0]["text"], value))
        repeat = call_json(fake.url, "POST", "/v1/completions", {"prompt": questions[0][0], "max_tokens": 16})[1]
        chat = {"messages": [{"role": "user", "content": "What is 6 * 7?"}], "max_tokens": 8, "ignore_eos": True}
        padded = call_json(fake.url, "POST", "/v1/chat/completions", chat)[1]["choices"][0]
        short = call_json(fake.url, "POST", "/v1/completions", {"prompt": "What is 1 + 1?", "max_tokens": 2})[1]
        plain = call_json(fake.url, "POST", "/v1/completions", {"prompt": "no question", "max_tokens": 2})[1]
    right = [text == f"The answer is {value}. " for text, value in answers]
    assert sum(right) == 138 and abs(sum(right) - 140) < 3 * (200 * 0.7 * 0.3) ** 0.5
    assert all(ok or text == f"The answer is {value + 1}. " for ok, (text, value) in zip(right, answers))
    assert repeat["choices"][0]["text"] == answers[0][0]
    assert padded["message"]["content"] == "The answer is 42. t4 t5 t6 t7 " and padded["finish_reason"] == "length"
    assert short["choices"][0]["text"] == "The answer " and short["choices"][0]["finish_reason"] == "length"
    assert plain["choices"][0]["text"] == "t0 t1 "


def test_answers_stream_with_the_servers_timing() -> None:
    ttft, itl = 0.05, 0.02
    with start_fake_server("--answer-accuracy", "1", "--ttft", str(ttft), "--itl", str(itl)) as fake:
        sent, events = stream(fake.url, "/v1/completions", {"prompt": "What is 3 * 3?", "max_tokens": 9})
    chunks = payloads(events)
    assert "".join(c["choices"][0]["text"] for c in chunks) == "The answer is 9. "
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    for index, (arrived, _) in enumerate(events[:-1]):
        assert arrived - sent >= ttft + index * itl - 1e-3
