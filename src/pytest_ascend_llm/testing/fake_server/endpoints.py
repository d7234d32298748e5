"""The OpenAI-compatible endpoints (vLLM- and SGLang-like service ones included) and the server loop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_ascend_llm.testing.fake_server.http11 import (
    BadRequest,
    Connection,
    Request,
    error_payload,
)
from pytest_ascend_llm.testing.fake_server.options import HOST, LISTENING_PREFIX, Options, parse_options
from pytest_ascend_llm.testing.fake_server.outputs import (
    MAX_LOGPROBS,
    Output,
    chat_logprobs,
    completion_logprobs,
    plan_output,
)
from pytest_ascend_llm.testing.fake_server.socket_io import SocketWriter, StampedReader, serve_sockets
from pytest_ascend_llm.testing.fake_server.tokens import (
    PrefixCache,
    Tokens,
    chunk_bounds,
    chunk_deadline,
    prompt_words,
    sleep_until,
    token_id,
)

VERSION = "fake-0"
# Well above the default of 100: 256 clients connecting at once must not overflow the accept queue,
# where a dropped SYN costs a one-second retransmission that would show up as time to first token.
BACKLOG = 4096


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
    ignore_eos: bool = False
    logprobs: int | None = None  # alternatives per token when logprobs were asked for, else None
    as_token_ids: bool = False  # vLLM's return_tokens_as_token_ids: tokens named "token_id:N"

    def logprobs_of(self, output: Output, start: int, stop: int) -> dict[str, Any] | None:
        """The choice's ``logprobs`` for output tokens ``start`` to ``stop - 1``, in this API's format."""
        if self.logprobs is None:
            return None
        render = chat_logprobs if self.chat else completion_logprobs
        return render(output, start, stop, self.logprobs, self.as_token_ids)


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


def logprob_request(payload: dict[str, Any], chat: bool) -> int | None:
    """The alternatives asked for per token: completions' ``logprobs: k``, chat's ``logprobs: true`` with
    ``top_logprobs: k`` (0 when absent); None when logprobs were not asked for."""
    top = payload.get("logprobs")
    if chat:
        asked, top = top, payload.get("top_logprobs")
        if not asked:
            if top is not None:
                raise BadRequest("when using `top_logprobs`, `logprobs` must be set to true")
            return None
        top = 0 if top is None else top
    elif top is None:
        return None
    if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= MAX_LOGPROBS:
        raise BadRequest(f"{'top_logprobs' if chat else 'logprobs'} must be an integer from 0 to {MAX_LOGPROBS}")
    return top


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
    return Generation(
        chat,
        kind,
        prompt,
        max_tokens,
        bool(payload.get("stream")),
        include_usage,
        continuous,
        ignore_eos=bool(payload.get("ignore_eos")),
        logprobs=logprob_request(payload, chat),
        as_token_ids=bool(payload.get("return_tokens_as_token_ids")),
    )


def usage(generation: Generation, cached: int, completion: int) -> dict[str, Any]:
    """Token counts; ``completion`` is the output so far (a continuous-usage chunk) or in all."""
    prompt_tokens = len(generation.prompt)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


@dataclass(frozen=True)
class Reply:
    """What one generation request is answered with: the request, the output planned for it, its cached
    prompt tokens, its response id, and when its schedule starts (its arrival, or when a queued request got
    its slot under ``--max-running``)."""

    generation: Generation
    output: Output
    cached: int
    response_id: str
    start: float

    def usage(self, completion: int | None = None) -> dict[str, Any]:
        return usage(self.generation, self.cached, len(self.output) if completion is None else completion)


def chunk_choice(
    chat: bool, text: str, first: bool, finish_reason: str | None, logprobs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The choice of one streamed chunk; the first chat chunk carries the role, the last the finish reason."""
    if chat:
        delta = {"role": "assistant", "content": text} if first else {"content": text}
        return {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
    return {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish_reason, "stop_reason": None}


class ChunkRenderer:
    """One stream's chunk JSON: the part around the text is serialised once per stream, not per chunk,
    which keeps the server's CPU time per chunk small at hundreds of concurrent streams."""

    _MARK = "\x00"

    def __init__(self, base: dict[str, Any], chat: bool, finish_reason: str = "length") -> None:
        self.base = base
        self.chat = chat
        self.finish_reason = finish_reason
        middle = json.dumps({**base, "choices": [chunk_choice(chat, self._MARK, first=False, finish_reason=None)]})
        self._before, self._after = middle.split(json.dumps(self._MARK))

    def render(self, text: str, first: bool, last: bool, logprobs: dict[str, Any] | None = None) -> str:
        """A chunk's JSON; chunks with logprobs (or the first or last) are serialised whole."""
        if first or last or logprobs is not None:
            finish = self.finish_reason if last else None
            return json.dumps({**self.base, "choices": [chunk_choice(self.chat, text, first, finish, logprobs)]})
        return self._before + json.dumps(text) + self._after


Handler = Callable[[Request, Connection], Awaitable[bool]]


class FakeOpenAIServer:
    """The endpoints; each handler answers one request and says whether the connection stays open."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.cache = PrefixCache(options.cache_prompts)
        self._ids = itertools.count()
        self.sent: dict[str, list[float]] = {}  # prompt text → when each chunk left, seconds after arrival
        self.leaked: list[bytes] = []  # --leak-mib-per-request: held for the server's life
        # --max-running: the running batch; the rest wait in arrival order (asyncio's semaphore is FIFO)
        self.slots = asyncio.Semaphore(options.max_running) if options.max_running else None
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

    async def handle_connection(self, reader: StampedReader, writer: SocketWriter) -> None:
        """One connection's task: requests in turn while the client keeps the connection."""
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
        if options.leak_mib_per_request:  # written, so its pages are resident: RSS grows by this much
            self.leaked.append(b"\x01" * int(options.leak_mib_per_request * 2**20))
        cached = self.cache.match_and_add(generation.kind, generation.prompt)
        serial = next(self._ids)
        output = plan_output(generation.prompt, generation.kind, generation.max_tokens, generation.ignore_eos, options)
        response_id = f"chatcmpl-{serial:08x}" if chat else f"cmpl-{serial:08x}"
        queued = self.slots is not None and self.slots.locked()  # no free slot: it waits its turn
        async with self.slots or contextlib.nullcontext():
            start = asyncio.get_running_loop().time() if queued else request.arrival
            reply = Reply(generation, output, cached, response_id, start)
            if generation.stream:
                return await self._stream(request, connection, reply)
            return await self._respond_whole(request, connection, reply)

    def _base(self, response_id: str, obj: str) -> dict[str, Any]:
        return {"id": response_id, "object": obj, "created": int(time.time()), "model": self.options.model_name}

    async def _stream(self, request: Request, connection: Connection, reply: Reply) -> bool:
        """Chunk i at start + ttft + i * itl (start: arrival, or the slot's grant); the last token chunk
        carries finish_reason (as vLLM's). Send times are kept from arrival, so they include any queueing."""
        options, generation, output = self.options, reply.generation, reply.output
        base = self._base(reply.response_id, "chat.completion.chunk" if generation.chat else "text_completion")
        renderer = ChunkRenderer(base, generation.chat, output.finish_reason)
        bounds = chunk_bounds(len(output), options.chunk_tokens)
        last = len(bounds) - 1
        await connection.start_stream(request.keep_alive)
        sent = self.sent.setdefault(output.key, []) if options.sent_times else []
        for index, (start, stop) in enumerate(bounds):
            if index == options.fail_after_chunks:
                await connection.cut()
                return False
            await sleep_until(chunk_deadline(reply.start, options.ttft, options.itl, index))
            logprobs = generation.logprobs_of(output, start, stop)
            event = renderer.render(output.text(start, stop), index == 0, index == last, logprobs)
            if generation.continuous_usage:
                event = json.dumps(json.loads(event) | {"usage": reply.usage(stop)})
            await connection.send_event(event)
            sent.append(asyncio.get_running_loop().time() - request.arrival)
        if options.fail_after_chunks is not None:  # N at least the chunk count: cut before [DONE]
            await connection.cut()
            return False
        if generation.include_usage:
            await connection.send_event(json.dumps({**base, "choices": [], "usage": reply.usage()}))
        await connection.send_event("[DONE]")
        await connection.end_stream()
        return request.keep_alive

    async def _respond_whole(self, request: Request, connection: Connection, reply: Reply) -> bool:
        """The whole answer when its last chunk would have been streamed."""
        options, generation, output = self.options, reply.generation, reply.output
        chunks = len(chunk_bounds(len(output), options.chunk_tokens))
        await sleep_until(chunk_deadline(reply.start, options.ttft, options.itl, chunks - 1))
        text = output.text(0, len(output))
        choice = {"logprobs": generation.logprobs_of(output, 0, len(output)), "finish_reason": output.finish_reason}
        if generation.chat:
            body = self._base(reply.response_id, "chat.completion")
            body["choices"] = [{"index": 0, "message": {"role": "assistant", "content": text}, **choice}]
        else:
            body = self._base(reply.response_id, "text_completion")
            body["choices"] = [{"index": 0, "text": text, **choice, "stop_reason": None}]
        body["usage"] = reply.usage()
        return await self._json(connection, request, body)


async def serve(options: Options) -> None:
    """Listen (after the startup delay), announce the address on stdout, serve until killed."""
    if options.startup_delay:
        await asyncio.sleep(options.startup_delay)
    app = FakeOpenAIServer(options)
    await serve_sockets(
        HOST,
        options.port,
        BACKLOG,
        app.handle_connection,
        lambda port: print(f"{LISTENING_PREFIX}http://{HOST}:{port}", flush=True),
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        asyncio.run(serve(options))
    except KeyboardInterrupt:
        pass
    return 0
