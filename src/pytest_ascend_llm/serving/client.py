"""What is said to any OpenAI-compatible server (vLLM, vllm-ascend, SGLang, MindIE) and how its answer is
read: the endpoint, the request bodies, the SSE stream turned into a RequestRecord, failures as one line.

The load generator's requests go out on its own connections (``wire.py``: one write per request,
httptools' C parser); the small synchronous calls here (model list, server info, cache flush) use httpx. Both reach the
servers' own non-OpenAI endpoints (``/flush_cache``, ``/reset_prefix_cache``, ``/get_server_info``).

Failures become one line naming the fix: a refused connection, a non-2xx answer (with the server's
own message), a timeout, a stream cut short or one that is not SSE JSON. The API key goes only into the
Authorization header; it is never part of a message, a record or a report.

Logprobs (``SamplingParams.logprobs`` k > 0) are asked for in each API's own fields: ``"logprobs": k`` on
/v1/completions, ``"logprobs": true, "top_logprobs": k`` on /v1/chat/completions, both with vLLM's
``"return_tokens_as_token_ids": true`` (tokens then read ``"token_id:123"``, parsed to ints; a server
that ignores it names tokens by their text, kept as strings). Each streamed chunk carries the logprobs of
its own tokens (vLLM's CompletionLogProbs ``tokens``/``token_logprobs``/``top_logprobs`` lists, or the
chat ``logprobs.content`` entries); they are read into one TokenLogprob per output token, alternatives
most likely first and at most k of them (a completions server adds the chosen token as a (k+1)-th when
it is not among the k).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from pytest_ascend_llm.engines.base import TokenLogprob
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.metrics.timing import TokenChunk
from pytest_ascend_llm.serving.records import (
    FAILED,
    TIMED_OUT,
    RequestRecord,
    reason_line,
    reconcile_counts,
)
from pytest_ascend_llm.settings import check_url


class EndpointError(LLMSetupError):
    """The server could not be reached or answered wrongly; the message is one line."""


class ConnectFailure(ConnectionError):
    """The load generator could not open a connection to the server (refused, unresolvable, timed out)."""


class StreamBroken(ConnectionError):
    """A connection closed or broke before its answer ended; ``received`` says whether any byte came."""

    def __init__(self, cause: str, received: bool) -> None:
        super().__init__(cause)
        self.received = received


@dataclass(frozen=True)
class Endpoint:
    """A server's base URL (without ``/v1``), the model name to request, and how long to wait."""

    url: str
    model: str | None = None
    timeout: float = 600.0
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, origin: str = "--llm-endpoint", **kwargs) -> Endpoint:
        """Accepts ``http://host:port`` or ``http://host:port/v1``; anything else is a one-line error."""
        parts = urlsplit(check_url(url, origin))
        path = parts.path.rstrip("/")
        path = path[: -len("/v1")] if path.endswith("/v1") else path
        return cls(urlunsplit((parts.scheme, parts.netloc, path, "", "")), **kwargs)

    @property
    def shown(self) -> str:
        """The URL without any user:password part, for messages and reports."""
        parts = urlsplit(self.url)
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def answer_message(status: int, body: bytes) -> str:
    """The server's own error message from an OpenAI-style JSON body, else the body's first line."""
    text = body.decode("utf-8", "replace").strip()
    try:
        payload = json.loads(text)
        error = payload.get("error", payload) if isinstance(payload, dict) else payload
        message = error.get("message") or error.get("detail") if isinstance(error, dict) else None
        text = str(message or text)
    except ValueError:
        pass
    return " ".join((text.splitlines() or [f"HTTP {status}"])[0].split())[:300]


def _failure_kind(error: BaseException) -> str:
    """connect / timeout / broken / other, for the load generator's errors and httpx's (the small
    synchronous calls; httpx is looked at only if it is already loaded)."""
    import asyncio
    import sys

    if isinstance(error, ConnectFailure):
        return "connect"
    if isinstance(error, StreamBroken):
        return "broken"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        if isinstance(error, httpx.ConnectError):
            return "connect"
        if isinstance(error, httpx.TimeoutException):
            return "timeout"
        if isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError)):
            return "broken"
    if isinstance(error, ConnectionRefusedError):
        return "connect"
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return "broken"
    return "other"


def describe_failure(endpoint: Endpoint, path: str, error: BaseException) -> tuple[str, str]:
    """(status, one-line reason) for an exception raised while talking to the server."""
    where = f"{endpoint.shown}{path}"
    if isinstance(error, EndpointError):  # mid-stream problems name the endpoint too
        text = str(error)
        return FAILED, text if endpoint.shown in text else f"{where}: {text}"
    kind = _failure_kind(error)
    if kind == "connect":
        cause = reason_line(str(error) or type(error).__name__, 120)
        return FAILED, f"cannot connect to {where} ({cause}): start the server, or fix the URL (--llm-endpoint)"
    if kind == "timeout":
        return TIMED_OUT, (
            f"no answer from {where} within {endpoint.timeout:g} s: the server is stuck or overloaded "
            "(raise --llm-request-timeout for slow models)"
        )
    if kind == "broken":
        cause = reason_line(str(error), 120) if isinstance(error, StreamBroken) else type(error).__name__
        return FAILED, f"the connection to {where} broke mid-answer ({cause}): did the server crash?"
    return FAILED, f"{where}: {type(error).__name__}: {reason_line(str(error), 200)}"


def sampling_payload(params, model: str | None) -> dict[str, object]:
    """OpenAI fields plus the vLLM/SGLang extensions every run needs (ignore_eos, top_k)."""
    payload: dict[str, object] = {
        "max_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "ignore_eos": params.ignore_eos,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
    }
    if params.top_k:
        payload["top_k"] = params.top_k
    if params.seed is not None:
        payload["seed"] = params.seed
    if model:
        payload["model"] = model
    return payload


def logprob_fields(params, chat: bool) -> dict[str, object]:
    """The request's logprob fields: none unless ``params.logprobs`` asks for k > 0 alternatives."""
    top = params.logprobs
    if top <= 0:
        return {}
    asked: dict[str, object] = {"logprobs": True, "top_logprobs": top} if chat else {"logprobs": top}
    return asked | {"return_tokens_as_token_ids": True}


def request_body(prompt, params, model: str | None) -> tuple[str, dict[str, object]]:
    """(path, JSON body): chat messages go to /v1/chat/completions, text or token ids to /v1/completions."""
    body = sampling_payload(params, model)
    if isinstance(prompt, ChatMessages):
        messages = {"messages": [dict(m) for m in prompt.messages]}
        return "/v1/chat/completions", body | logprob_fields(params, chat=True) | messages
    text = {"prompt": prompt if isinstance(prompt, str) else list(prompt)}
    return "/v1/completions", body | logprob_fields(params, chat=False) | text


TOKEN_ID_PREFIX = "token_id:"  # vLLM's return_tokens_as_token_ids form


def _token(token: object) -> int | str:
    """A token as the server named it: an int for vLLM's ``token_id:123``, else its text."""
    text = str(token)
    digits = text[len(TOKEN_ID_PREFIX) :]
    return int(digits) if text.startswith(TOKEN_ID_PREFIX) and digits.isdigit() else text


def _logprob(value: object) -> float:
    return float(value) if value is not None else float("nan")  # vLLM sends null only for echoed prompts


def _position(token: object, logprob: object, alternatives, top: int) -> TokenLogprob:
    """One output token; ``alternatives`` are (token, logprob) pairs in any order, ``top`` caps them."""
    ranked = sorted(((_token(t), _logprob(lp)) for t, lp in alternatives), key=lambda pair: -pair[1])
    chosen = _token(token)
    text = chosen if isinstance(chosen, str) else None
    return TokenLogprob(chosen, _logprob(logprob), tuple(ranked[:top] if top > 0 else ranked), text)


def parse_logprobs(logprobs: object, top: int = 0) -> list[TokenLogprob]:
    """A choice's ``logprobs`` in either API's form: chat's ``{"content": [{token, logprob, top_logprobs:
    [{token, logprob}]}]}`` or completions' parallel ``tokens``/``token_logprobs``/``top_logprobs`` lists
    (a dict token → logprob per position); ``[]`` for null or an unknown shape."""
    if not isinstance(logprobs, dict):
        return []
    if "content" in logprobs:
        return [
            _position(
                entry.get("token"),
                entry.get("logprob"),
                ((alt.get("token"), alt.get("logprob")) for alt in entry.get("top_logprobs") or ()),
                top,
            )
            for entry in logprobs.get("content") or ()
        ]
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or [None] * len(tokens)
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    return [
        _position(token, value, (alternatives or {}).items(), top)
        for token, value, alternatives in zip(tokens, values, tops)
    ]


@dataclass(frozen=True)
class ChatMessages:
    """A chat turn for a server: sent as ``messages`` to /v1/chat/completions, templated by the server."""

    messages: tuple[dict[str, str], ...]


class StreamReader:
    """Turns SSE events into a RequestRecord. ``read`` takes the lines of one read off the connection
    and the time it was stamped: the tokens of every event in it become one chunk at that time (with
    ``events`` saying how many arrived together), so ITL never shows a 0 ms gap that is only the
    client's read granularity."""

    def __init__(self, record: RequestRecord, start: float, top_logprobs: int = 0) -> None:
        self.record = record
        self.start = start  # chunk times count from here (the request's due time)
        self.top_logprobs = top_logprobs  # the k asked for: alternatives kept per token
        self.done = False
        self.counted = 0  # tokens assigned to chunks so far
        self.parts: list[str] = []

    def read(self, lines: Sequence[bytes], now: float) -> None:
        """The SSE lines of one read, stamped ``now`` (before any parsing)."""
        tokens = events = 0
        usage_only = False
        for line in lines:
            count, has_choices = self.feed(line)
            if count > 0:
                tokens += count
                events += 1
                usage_only = usage_only or not has_choices
        if tokens <= 0:
            return
        chunks = self.record.chunks
        if usage_only and events == 1 and chunks:  # a closing usage-only event counting unshown tokens
            last = chunks[-1]
            chunks[-1] = TokenChunk(last.time, last.count + tokens, last.events)
        else:
            chunks.append(TokenChunk(now - self.start, tokens, events))

    def feed(self, line: bytes) -> tuple[int, bool]:
        """One SSE line: (tokens it carried, whether it had choices)."""
        if not line.startswith(b"data:"):
            return 0, False
        data = line[5:].strip()
        if data == b"[DONE]":
            self.done = True
            return 0, False
        try:
            event = json.loads(data)
        except ValueError:
            raise EndpointError(f"malformed stream event (not JSON): {data[:120]!r}") from None
        if "error" in event:
            raise EndpointError(f"the server reported an error mid-stream: {answer_message(500, data)}")
        usage = event.get("usage")
        choices = event.get("choices") or ()
        text = ""
        positions: list[TokenLogprob] = []
        for choice in choices:
            piece = choice.get("text")
            if piece is None:
                piece = (choice.get("delta") or {}).get("content")
            text += piece or ""
            if choice.get("finish_reason"):
                self.record.finish_reason = choice["finish_reason"]
            self.record.token_ids.extend(choice.get("token_ids") or ())
            positions += parse_logprobs(choice.get("logprobs"), self.top_logprobs)
        if positions:
            self.record.logprobs = self.record.logprobs or []
            self.record.logprobs.extend(positions)
        if usage:
            self._usage(usage)
            count = int(usage.get("completion_tokens") or 0) - self.counted
        else:  # without usage, a chunk's logprobs say how many tokens it carried
            count = len(positions) or (1 if text else 0)
        if text:
            self.parts.append(text)
        if count <= 0:
            return 0, bool(choices)
        self.counted += count
        return count, bool(choices)

    def _usage(self, usage: dict) -> None:
        self.record.prompt_tokens = usage.get("prompt_tokens", self.record.prompt_tokens)
        self.record.output_tokens = usage.get("completion_tokens", self.record.output_tokens)
        details = usage.get("prompt_tokens_details") or {}
        self.record.cached_tokens = int(details.get("cached_tokens") or usage.get("cached_tokens") or 0)

    def finish(self) -> RequestRecord:
        self.record.text = "".join(self.parts)
        self.record.chunks = reconcile_counts(self.record.chunks, self.record.output_tokens)
        if not self.done:
            raise EndpointError(
                f"the stream ended without [DONE] after {len(self.record.chunks)} token chunks: the server "
                "closed it early (crash, restart, or a proxy cutting long responses)"
            )
        return self.record


def get_json(endpoint: Endpoint, path: str, method: str = "GET", body: object = None, timeout: float = 10.0):
    """A small synchronous call (model list, server info, tokenize, cache flush); raises EndpointError."""
    import httpx

    try:
        response = httpx.request(
            method, endpoint.url + path, json=body, headers=endpoint.headers, timeout=timeout, trust_env=False
        )
    except httpx.HTTPError as error:
        raise EndpointError(describe_failure(Endpoint(endpoint.url, timeout=timeout), path, error)[1]) from None
    if response.status_code >= 400:
        message = answer_message(response.status_code, response.content)
        raise EndpointError(f"{endpoint.shown}{path} answered HTTP {response.status_code}: {message}")
    try:
        return response.json() if response.content else {}
    except ValueError:
        return {"text": response.text}


def served_models(endpoint: Endpoint) -> Sequence[dict]:
    """The server's /v1/models entries (id, and max_model_len where vLLM reports it)."""
    return get_json(endpoint, "/v1/models").get("data") or []
