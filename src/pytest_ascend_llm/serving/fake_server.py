"""An OpenAI-compatible test server whose timing is exactly controlled.

A load generator's clock cannot be checked against a real engine, whose timing varies from run to run.
This server sends chunk ``i`` of every stream at the absolute deadline ``arrival + ttft + i * itl``,
so what a client measures can be compared with what was scheduled. It also fails on demand (streams
cut mid-way, error statuses, a health check that never passes, a late start, requests never answered)
to test how clients handle failures.

Only asyncio and the standard library, with a minimal HTTP/1.1: at 256 concurrent streams the server's
own overhead must stay far below the timings it simulates.

    python -m pytest_ascend_llm.serving.fake_server --port 0 --ttft 0.5 --itl 0.02 --chunk-tokens 2

From Python (tests, benchmarks)::

    with start_fake_server("--ttft", "0.1") as server:
        urllib.request.urlopen(server.url + "/health")
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import http
import itertools
import json
import os
import select
import subprocess
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

VERSION = "fake-0"
HOST = "127.0.0.1"
MODULE = "pytest_ascend_llm.serving.fake_server"
LISTENING_PREFIX = "listening on "
MAX_CACHED_PROMPTS = 1000
MAX_HEADER_LINES = 100
# Well above the default of 100: 256 clients connecting at once must not overflow the accept queue,
# where a dropped SYN costs a one-second retransmission that would show up as time to first token.
BACKLOG = 4096

Tokens = tuple[Any, ...]


# ---------------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class Options:
    """What the command line sets: the timing, the model's identity and the faults to inject."""

    port: int = 0
    model_name: str = "fake-model"
    max_model_len: int = 4096
    ttft: float = 0.0
    itl: float = 0.0
    chunk_tokens: int = 1
    fail_after_chunks: int | None = None
    status: int | None = None
    never_healthy: bool = False
    startup_delay: float = 0.0
    hang: bool = False


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    return parse


def _error_status(text: str) -> int:
    value = int(text)
    if not 400 <= value <= 599:
        raise argparse.ArgumentTypeError(f"must be an error status (400-599), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="OpenAI-compatible test server with exactly scheduled chunks and injectable faults.",
    )
    parser.add_argument("--port", type=_int_at_least(0), default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--model-name", default="fake-model", help="model id served by /v1/models")
    parser.add_argument("--max-model-len", type=_int_at_least(1), default=4096, help="context length")
    parser.add_argument("--ttft", type=_non_negative_float, default=0.0, help="seconds from arrival to chunk 0")
    parser.add_argument("--itl", type=_non_negative_float, default=0.0, help="seconds between chunks")
    parser.add_argument("--chunk-tokens", type=_int_at_least(1), default=1, help="tokens per streamed chunk")
    parser.add_argument(
        "--fail-after-chunks",
        type=_int_at_least(0),
        default=None,
        help="streams close the connection after N chunks, without [DONE]",
    )
    parser.add_argument("--status", type=_error_status, default=None, help="generation requests answer this status")
    parser.add_argument("--never-healthy", action="store_true", help="/health answers 503 forever")
    parser.add_argument("--startup-delay", type=_non_negative_float, default=0.0, help="listen only after this")
    parser.add_argument("--hang", action="store_true", help="never answer generation requests")
    return parser


def parse_options(argv: Sequence[str] | None = None) -> Options:
    args = build_parser().parse_args(argv)
    return Options(**vars(args))


# ---------------------------------------------------------------------------------------------------
# Tokens, timing, prefix cache


def prompt_words(text: str) -> Tokens:
    """The fake tokenizer: one token per whitespace-separated word."""
    return tuple(text.split())


def token_id(word: str) -> int:
    """A stable id for a word (crc32, not hash(): the same in every process and run)."""
    return zlib.crc32(word.encode("utf-8")) % 1000


def output_text(start: int, stop: int) -> str:
    """The text of output tokens ``start`` to ``stop - 1``: ``"t{i} "`` each."""
    return "".join(f"t{i} " for i in range(start, stop))


def chunk_bounds(max_tokens: int, chunk_tokens: int) -> list[tuple[int, int]]:
    """(start, stop) output-token ranges of each streamed chunk; the last one may be shorter."""
    return [(start, min(start + chunk_tokens, max_tokens)) for start in range(0, max_tokens, chunk_tokens)]


def chunk_deadline(arrival: float, ttft: float, itl: float, index: int) -> float:
    """When chunk ``index`` is due, on the loop's clock: absolute, so late wake-ups never accumulate."""
    return arrival + ttft + index * itl


async def sleep_until(deadline: float) -> None:
    """Sleep to an absolute ``loop.time()`` deadline (a timer at that instant, no relative delay)."""
    loop = asyncio.get_running_loop()
    if deadline <= loop.time():
        return
    done = loop.create_future()
    timer = loop.call_at(deadline, _resolve, done)
    try:
        await done
    finally:
        timer.cancel()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def common_prefix_length(a: Tokens, b: Tokens) -> int:
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[index] == b[index]:
        index += 1
    return index


class PrefixCache:
    """Simulated prefix caching: how many leading tokens of a prompt some earlier prompt shared.

    Earlier prompts are kept sorted (one list per token kind, words or ids), so the longest common
    prefix with any of them is the one with a neighbour of the new prompt in that order: two
    comparisons per request instead of one per remembered prompt.
    """

    def __init__(self, capacity: int = MAX_CACHED_PROMPTS) -> None:
        self.capacity = capacity
        self._sorted: dict[str, list[Tokens]] = {}
        self._order: collections.deque[tuple[str, Tokens]] = collections.deque()

    def clear(self) -> None:
        self._sorted.clear()
        self._order.clear()

    def match_and_add(self, kind: str, tokens: Tokens) -> int:
        """The cached tokens of this prompt; then remember it for later prompts."""
        prompts = self._sorted.setdefault(kind, [])
        index = bisect.bisect_left(prompts, tokens)
        cached = 0
        if index > 0:
            cached = common_prefix_length(prompts[index - 1], tokens)
        if index < len(prompts):
            cached = max(cached, common_prefix_length(prompts[index], tokens))
        prompts.insert(index, tokens)
        self._order.append((kind, tokens))
        if len(self._order) > self.capacity:
            self._evict_oldest()
        return cached

    def _evict_oldest(self) -> None:
        kind, tokens = self._order.popleft()
        prompts = self._sorted[kind]
        del prompts[bisect.bisect_left(prompts, tokens)]  # equal duplicates are interchangeable


# ---------------------------------------------------------------------------------------------------
# Minimal HTTP/1.1


class BadRequest(Exception):
    """A request this server cannot read or accept: answered 400."""


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    arrival: float  # loop.time() when the request line arrived

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    def json(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.body or b"{}")
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequest(f"body is not valid JSON: {error}") from None
        if not isinstance(payload, dict):
            raise BadRequest("body must be a JSON object")
        return payload


def reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_payload(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error shape, with a type named after the status (``ServiceUnavailableError``)."""
    name = reason_phrase(status).title().replace(" ", "").replace("-", "")
    error_type = name if name.endswith("Error") else f"{name}Error"
    return {"error": {"message": message, "type": error_type, "code": status}}


class Connection:
    """One client connection: reads requests, writes whole responses or chunked streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read_request(self) -> Request | None:
        """The next request, or None when the client closed the connection between requests."""
        line = await self._readline()
        while line in (b"\r\n", b"\n"):  # stray line ends before a request line are allowed
            line = await self._readline()
        if not line:
            return None
        arrival = asyncio.get_running_loop().time()
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest("malformed request line")
        method, target, version = parts
        headers = await self._read_headers()
        if headers.get("expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(headers)
        return Request(method, target.split("?", 1)[0], version, headers, body, arrival)

    async def _readline(self) -> bytes:
        try:
            return await self.reader.readline()
        except ValueError:  # longer than the reader's limit (64 KiB)
            raise BadRequest("request line or header line too long") from None

    async def _read_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = await self._readline()
            if line in (b"\r\n", b"\n"):
                return headers
            if not line:
                raise asyncio.IncompleteReadError(b"", None)
            name, separator, value = line.decode("latin-1").partition(":")
            if not separator:
                raise BadRequest("malformed header line")
            headers[name.strip().lower()] = value.strip()
        raise BadRequest("too many header lines")

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await self._read_chunked_body()
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise BadRequest("invalid Content-Length") from None
        if length < 0:
            raise BadRequest("invalid Content-Length")
        return await self.reader.readexactly(length) if length else b""

    async def _read_chunked_body(self) -> bytes:
        parts = []
        while True:
            try:
                size = int((await self._readline()).split(b";", 1)[0], 16)
            except ValueError:
                raise BadRequest("malformed chunk size") from None
            if size == 0:
                break
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        while (await self._readline()) not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(parts)

    def _head(self, status: int, headers: Sequence[tuple[str, str]], keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {status} {reason_phrase(status)}", *(f"{name}: {value}" for name, value in headers)]
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(self, status: int, body: bytes, content_type: str, keep_alive: bool) -> None:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        self.writer.write(self._head(status, headers, keep_alive) + body)
        await self.writer.drain()

    async def send_json(self, status: int, payload: Any, keep_alive: bool) -> None:
        await self.send(status, json.dumps(payload).encode("utf-8"), "application/json", keep_alive)

    async def start_stream(self, keep_alive: bool) -> None:
        """Headers of a server-sent-event stream, sent at once (before the first chunk is due)."""
        headers = [
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
            ("Transfer-Encoding", "chunked"),
        ]
        self.writer.write(self._head(200, headers, keep_alive))
        await self.writer.drain()

    async def send_event(self, data: str) -> None:
        """One SSE event (``data: ...``) as one HTTP chunk."""
        event = f"data: {data}\n\n".encode()
        self.writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        await self.writer.drain()

    async def end_stream(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()

    async def cut(self) -> None:
        """Close the connection mid-response, like a crashed server, after what was written is sent."""
        self.writer.transport.set_write_buffer_limits(0)
        await self.writer.drain()  # with no high-water mark, returns once the buffer reached the kernel
        self.writer.transport.abort()

    async def wait_until_peer_closes(self) -> None:
        while await self.reader.read(65536):
            pass


# ---------------------------------------------------------------------------------------------------
# OpenAI-compatible endpoints


@dataclass(frozen=True)
class Generation:
    """A validated completion or chat request."""

    chat: bool
    kind: str  # "words" or "ids": the prefix cache compares prompts of one kind
    prompt: Tokens
    max_tokens: int
    stream: bool
    include_usage: bool
    continuous_usage: bool = False  # vLLM's stream_options.continuous_usage_stats: usage in every chunk


def _is_token_ids(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in value)


def completion_prompt(payload: dict[str, Any]) -> tuple[str, Tokens]:
    """``prompt``: a string, a list of token ids, or a one-element list of either (no batches)."""
    prompt = payload.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and not _is_token_ids(prompt):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return "words", prompt_words(prompt)
    if _is_token_ids(prompt):
        return "ids", tuple(prompt)
    raise BadRequest("prompt must be a string or a list of token ids (batched prompts are not supported)")


def message_text(payload: dict[str, Any]) -> str:
    """The message contents joined by spaces (text parts of multi-part contents included)."""
    messages = payload.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("messages must be a list of objects")
    texts = []
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):
            texts.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
        else:
            texts.append(str(content))
    return " ".join(texts)


def parse_generation(payload: dict[str, Any], chat: bool, max_model_len: int) -> Generation:
    kind, prompt = ("words", prompt_words(message_text(payload))) if chat else completion_prompt(payload)
    max_tokens = payload.get("max_tokens")
    if max_tokens is None and chat:
        max_tokens = payload.get("max_completion_tokens")
    max_tokens = 16 if max_tokens is None else max_tokens
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest("max_tokens must be a positive integer")
    if len(prompt) + max_tokens > max_model_len:
        raise BadRequest(
            f"This model's maximum context length is {max_model_len} tokens. However, you requested "
            f"{len(prompt) + max_tokens} tokens ({len(prompt)} in the prompt, {max_tokens} in the completion)."
        )
    stream_options = payload.get("stream_options") or {}
    include_usage = isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))
    continuous = include_usage and bool(stream_options.get("continuous_usage_stats"))
    return Generation(chat, kind, prompt, max_tokens, bool(payload.get("stream")), include_usage, continuous)


def usage(generation: Generation, cached: int, completion: int | None = None) -> dict[str, Any]:
    """Token counts; ``completion`` is the running count of a continuous-usage chunk."""
    prompt_tokens = len(generation.prompt)
    completion = generation.max_tokens if completion is None else completion
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def chunk_choice(chat: bool, text: str, first: bool, last: bool) -> dict[str, Any]:
    """The choice of one streamed chunk; the first chat chunk carries the role, the last the finish reason."""
    finish_reason = "length" if last else None
    if chat:
        delta = {"role": "assistant", "content": text} if first else {"content": text}
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason, "stop_reason": None}


class ChunkRenderer:
    """One stream's chunk JSON: the part around the text is serialised once per stream, not per chunk,
    which keeps the server's CPU time per chunk small at hundreds of concurrent streams."""

    _MARK = "\x00"

    def __init__(self, base: dict[str, Any], chat: bool) -> None:
        self.base = base
        self.chat = chat
        middle = json.dumps({**base, "choices": [chunk_choice(chat, self._MARK, first=False, last=False)]})
        self._before, self._after = middle.split(json.dumps(self._MARK))

    def render(self, text: str, first: bool, last: bool) -> str:
        if first or last:
            return json.dumps({**self.base, "choices": [chunk_choice(self.chat, text, first, last)]})
        return self._before + json.dumps(text) + self._after


Handler = Callable[[Request, Connection], Awaitable[bool]]


class FakeOpenAIServer:
    """The endpoints; each handler answers one request and says whether the connection stays open."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.cache = PrefixCache()
        self._ids = itertools.count()
        self.sent: dict[str, list[float]] = {}  # prompt text → when each chunk left, seconds after arrival
        self.routes: dict[str, tuple[frozenset[str], Handler]] = {
            "/health": (frozenset({"GET"}), self.health),
            "/version": (frozenset({"GET"}), self.version),
            "/v1/models": (frozenset({"GET"}), self.models),
            "/get_server_info": (frozenset({"GET"}), self.server_info),
            "/tokenize": (frozenset({"POST"}), self.tokenize),
            "/reset_prefix_cache": (frozenset({"GET", "POST"}), self.reset_prefix_cache),
            "/flush_cache": (frozenset({"GET", "POST"}), self.flush_cache),
            "/x_sent_times": (frozenset({"GET"}), self.sent_times),
            "/v1/completions": (frozenset({"POST"}), self.completions),
            "/v1/chat/completions": (frozenset({"POST"}), self.chat_completions),
        }

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """asyncio.start_server's callback: requests in turn while the client keeps the connection."""
        connection = Connection(reader, writer)
        try:
            while (request := await connection.read_request()) is not None:
                if not await self.dispatch(request, connection):
                    break
        except BadRequest as error:  # the request could not be read: answer, then close
            with contextlib.suppress(ConnectionError):
                await connection.send_json(400, error_payload(400, str(error)), keep_alive=False)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        finally:
            writer.close()

    async def dispatch(self, request: Request, connection: Connection) -> bool:
        route = self.routes.get(request.path)
        if route is None:
            return await self._error(connection, request, 404, f"no route {request.path}")
        methods, handler = route
        if request.method not in methods:
            return await self._error(connection, request, 405, f"{request.method} not allowed on {request.path}")
        try:
            return await handler(request, connection)
        except BadRequest as error:
            return await self._error(connection, request, 400, str(error))

    async def _json(self, connection: Connection, request: Request, payload: Any, status: int = 200) -> bool:
        await connection.send_json(status, payload, request.keep_alive)
        return request.keep_alive

    async def _error(self, connection: Connection, request: Request, status: int, message: str) -> bool:
        return await self._json(connection, request, error_payload(status, message), status)

    # --- service endpoints ---

    async def health(self, request: Request, connection: Connection) -> bool:
        if self.options.never_healthy:
            return await self._error(connection, request, 503, "the server never becomes healthy (--never-healthy)")
        await connection.send(200, b"", "text/plain", request.keep_alive)
        return request.keep_alive

    async def version(self, request: Request, connection: Connection) -> bool:
        return await self._json(connection, request, {"version": VERSION})

    async def models(self, request: Request, connection: Connection) -> bool:
        model = {
            "id": self.options.model_name,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "fake",
            "max_model_len": self.options.max_model_len,
        }
        return await self._json(connection, request, {"object": "list", "data": [model]})

    async def server_info(self, request: Request, connection: Connection) -> bool:
        """SGLang-like; the speculative acceptance length appears only with more than one token per chunk."""
        info: dict[str, Any] = {"version": VERSION, "model_path": self.options.model_name}
        if self.options.chunk_tokens > 1:
            info["avg_spec_accept_length"] = float(self.options.chunk_tokens)
            info["internal_states"] = [{"avg_spec_accept_length": float(self.options.chunk_tokens)}]
        return await self._json(connection, request, info)

    async def sent_times(self, request: Request, connection: Connection) -> bool:
        """The truth a load generator's clock is checked against: per prompt, when each chunk actually
        left this server (seconds after the request arrived), including any lateness of our own."""
        return await self._json(connection, request, self.sent)

    async def tokenize(self, request: Request, connection: Connection) -> bool:
        payload = request.json()
        if "messages" in payload:
            text = message_text(payload)
        elif isinstance(payload.get("prompt"), str):
            text = payload["prompt"]
        else:
            raise BadRequest("prompt must be a string")
        tokens = [token_id(word) for word in prompt_words(text)]
        body = {"tokens": tokens, "count": len(tokens), "max_model_len": self.options.max_model_len}
        return await self._json(connection, request, body)

    async def reset_prefix_cache(self, request: Request, connection: Connection) -> bool:
        """vLLM's: 200 with an empty body."""
        self.cache.clear()
        await connection.send(200, b"", "text/plain", request.keep_alive)
        return request.keep_alive

    async def flush_cache(self, request: Request, connection: Connection) -> bool:
        """SGLang's: 200 with a line of text."""
        self.cache.clear()
        await connection.send(200, b"Cache flushed.\n", "text/plain", request.keep_alive)
        return request.keep_alive

    # --- generation ---

    async def completions(self, request: Request, connection: Connection) -> bool:
        return await self._generate(request, connection, chat=False)

    async def chat_completions(self, request: Request, connection: Connection) -> bool:
        return await self._generate(request, connection, chat=True)

    async def _generate(self, request: Request, connection: Connection, chat: bool) -> bool:
        options = self.options
        if options.status is not None:
            return await self._error(connection, request, options.status, f"injected status {options.status}")
        if options.hang:
            await connection.wait_until_peer_closes()
            return False
        generation = parse_generation(request.json(), chat, options.max_model_len)
        cached = self.cache.match_and_add(generation.kind, generation.prompt)
        serial = next(self._ids)
        response_id = f"chatcmpl-{serial:08x}" if chat else f"cmpl-{serial:08x}"
        if generation.stream:
            return await self._stream(request, connection, generation, cached, response_id)
        return await self._respond_whole(request, connection, generation, cached, response_id)

    def _base(self, response_id: str, obj: str) -> dict[str, Any]:
        return {"id": response_id, "object": obj, "created": int(time.time()), "model": self.options.model_name}

    async def _stream(
        self, request: Request, connection: Connection, generation: Generation, cached: int, response_id: str
    ) -> bool:
        """Chunk i at arrival + ttft + i * itl; the last token chunk carries finish_reason (as vLLM's)."""
        options = self.options
        base = self._base(response_id, "chat.completion.chunk" if generation.chat else "text_completion")
        renderer = ChunkRenderer(base, generation.chat)
        bounds = chunk_bounds(generation.max_tokens, options.chunk_tokens)
        last = len(bounds) - 1
        await connection.start_stream(request.keep_alive)
        sent = self.sent.setdefault(" ".join(map(str, generation.prompt)), [])
        for index, (start, stop) in enumerate(bounds):
            if index == options.fail_after_chunks:
                await connection.cut()
                return False
            await sleep_until(chunk_deadline(request.arrival, options.ttft, options.itl, index))
            event = renderer.render(output_text(start, stop), index == 0, index == last)
            if generation.continuous_usage:
                event = json.dumps(json.loads(event) | {"usage": usage(generation, cached, stop)})
            await connection.send_event(event)
            sent.append(asyncio.get_running_loop().time() - request.arrival)
        if options.fail_after_chunks is not None:  # N at least the chunk count: cut before [DONE]
            await connection.cut()
            return False
        if generation.include_usage:
            await connection.send_event(json.dumps({**base, "choices": [], "usage": usage(generation, cached)}))
        await connection.send_event("[DONE]")
        await connection.end_stream()
        return request.keep_alive

    async def _respond_whole(
        self, request: Request, connection: Connection, generation: Generation, cached: int, response_id: str
    ) -> bool:
        """The whole answer when its last chunk would have been streamed."""
        options = self.options
        chunks = len(chunk_bounds(generation.max_tokens, options.chunk_tokens))
        await sleep_until(chunk_deadline(request.arrival, options.ttft, options.itl, chunks - 1))
        text = output_text(0, generation.max_tokens)
        if generation.chat:
            body = self._base(response_id, "chat.completion")
            message = {"role": "assistant", "content": text}
            body["choices"] = [{"index": 0, "message": message, "logprobs": None, "finish_reason": "length"}]
        else:
            body = self._base(response_id, "text_completion")
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "length", "stop_reason": None}
            body["choices"] = [choice]
        body["usage"] = usage(generation, cached)
        return await self._json(connection, request, body)


async def serve(options: Options) -> None:
    """Listen (after the startup delay), announce the address on stdout, serve until killed."""
    if options.startup_delay:
        await asyncio.sleep(options.startup_delay)
    app = FakeOpenAIServer(options)
    server = await asyncio.start_server(app.handle_connection, HOST, options.port, backlog=BACKLOG)
    port = server.sockets[0].getsockname()[1]
    print(f"{LISTENING_PREFIX}http://{HOST}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        asyncio.run(serve(options))
    except KeyboardInterrupt:
        pass
    return 0


# ---------------------------------------------------------------------------------------------------
# Helper: the server as a subprocess


class FakeServer:
    """A fake server in its own process (so the caller's work cannot disturb its timing).

    ``url`` is known once its ``listening on`` line was read (``wait_listening``); a context manager.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the fake server has not announced its address yet: call wait_listening()")
        return self._url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def wait_listening(self, timeout: float = 10.0) -> str:
        """Read the ``listening on URL`` line (waiting at most ``timeout`` seconds) and return the URL."""
        if self._url is None:
            line = _read_first_line(self.process, timeout)
            if not line.startswith(LISTENING_PREFIX):
                raise RuntimeError(f"unexpected first line from the fake server: {line!r}")
            self._url = line[len(LISTENING_PREFIX) :]
        return self._url

    def close(self) -> None:
        """Terminate the process; kill it if it does not exit within 5 seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _read_first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The first stdout line, read straight from the pipe with a deadline (readline() has none)."""
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the fake server did not announce its address within {timeout} s")
        readable, _, _ = select.select([descriptor], [], [], remaining)
        if readable:
            chunk = os.read(descriptor, 4096)
            if not chunk:
                raise RuntimeError(f"the fake server exited (code {process.wait()}) before listening")
            data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8").strip()


def start_fake_server(*args: str, timeout: float = 10.0, wait_for_line: bool = True) -> FakeServer:
    """Start ``python -m pytest_ascend_llm.serving.fake_server *args``; by default wait until it listens.

    With ``wait_for_line=False`` (e.g. with ``--startup-delay``) call ``wait_listening()`` later.
    """
    command = [sys.executable, "-m", MODULE, *args]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    server = FakeServer(process)
    if wait_for_line:
        try:
            server.wait_listening(timeout)
        except BaseException:
            server.close()
            raise
    return server


if __name__ == "__main__":
    sys.exit(main())
