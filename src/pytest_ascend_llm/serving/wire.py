"""One streamed request on the wire, over aiohttp: the request in one write, its timeline stamped.

aiohttp, not httpx, for the load generator: it coalesces a request's headers and body into one write
(httpx, through h11, writes them as two, and under load the body left 44 ms after the headers at 64
streams, while a server whose accept queue had overflowed reset the connection when the split body
arrived), its response parser is llhttp in C, and its connection pool is a dict per host, not a scan.
vLLM's ``bench serve`` uses it for the same reasons.

The timeline of a request, all on ``time.perf_counter`` (CLOCK_MONOTONIC on Linux, one base for every
process of a run): ``due`` (its scheduled time under a rate, its turn under a concurrency), connection
setup (aiohttp's connection-create trace, zero on a reused connection), ``sent`` (just before the
request's single write) and one stamp per read of the response. TTFT and every chunk time count from
``due``, as vLLM and SGLang do, so a server too slow to accept is charged; the client's own wait
(due → sent, connection setup excluded) is kept beside it, so a late client is visible, not hidden.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

from pytest_ascend_llm.serving.client import (
    Endpoint,
    EndpointError,
    StreamReader,
    answer_message,
    describe_failure,
    request_body,
)
from pytest_ascend_llm.serving.records import COMPLETED, FAILED, RequestRecord, reason_line

CONNECT_TIMEOUT_S = 10.0


_UNTIMED = SimpleNamespace(sent=None, connect=0.0, connect_start=0.0)  # stamps of untimed calls


def _stamps(context: SimpleNamespace) -> SimpleNamespace:
    """The per-request stamps a trace writes into (aiohttp passes ``trace_request_ctx`` through)."""
    return context.trace_request_ctx or _UNTIMED


async def _connect_start(session, context, params) -> None:
    _stamps(context).connect_start = time.perf_counter()


async def _connect_end(session, context, params) -> None:
    stamps = _stamps(context)
    stamps.connect = time.perf_counter() - stamps.connect_start


async def _chunk_sent(session, context, params) -> None:
    stamps = _stamps(context)
    if stamps.sent is None and stamps is not _UNTIMED:  # the first (and only) write: headers and body
        stamps.sent = time.perf_counter()


def import_aiohttp():
    """aiohttp, or one line saying how to get it (it is a dependency; a hand-made venv may lack it)."""
    try:
        import aiohttp
    except ImportError:
        from pytest_ascend_llm.errors import LLMSetupError

        raise LLMSetupError("the load generator needs aiohttp: pip install aiohttp") from None
    return aiohttp


class ClientPool:
    """One aiohttp session for a process's streams: an unbounded pool (the load shape, not the pool,
    limits concurrency), keep-alive, no proxies from the environment (a benchmark never goes through one
    by accident), and the traces that stamp connection setup and the write."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.session = None

    async def __aenter__(self) -> ClientPool:
        aiohttp = import_aiohttp()

        trace = aiohttp.TraceConfig()  # its context carries the request's ``trace_request_ctx``
        trace.on_connection_create_start.append(_connect_start)
        trace.on_connection_create_end.append(_connect_end)
        trace.on_request_chunk_sent.append(_chunk_sent)
        timeout = aiohttp.ClientTimeout(
            total=self.endpoint.timeout, sock_connect=min(CONNECT_TIMEOUT_S, self.endpoint.timeout)
        )
        self.session = aiohttp.ClientSession(
            base_url=self.endpoint.url.rstrip("/") + "/",
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None),
            timeout=timeout,
            trust_env=False,
            trace_configs=[trace],
            auto_decompress=False,
            read_bufsize=2**16,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.session is not None:
            await self.session.close()


def encoded(prompt, params, model: str | None) -> tuple[str, bytes]:
    """(path, JSON body bytes) of a request, made before the run so no stream waits on the encoding."""
    path, body = request_body(prompt, params, model)
    return path.lstrip("/"), json.dumps(body).encode()


async def open_connections(pool: ClientPool, count: int) -> None:
    """Open ``count`` keep-alive connections before a run (``GET /v1/models`` on each at once), so a
    closed loop's first requests are timed on warm connections like every later one; a server that
    cannot answer is left to the run, whose requests then say why."""
    import asyncio

    async def touch() -> None:
        try:
            async with pool.session.get("v1/models", headers=pool.endpoint.headers) as response:
                await response.read()
        except Exception:
            pass

    await asyncio.gather(*(touch() for _ in range(count)))


async def stream_request(
    pool: ClientPool,
    index: int,
    prompt,
    params,
    run_start: float,
    due: float | None = None,
    body: tuple[str, bytes] | None = None,
) -> RequestRecord:
    """One streamed request; never raises for the server's faults: they end up in the record.

    ``due`` is the absolute perf_counter time the request was due (now, when None); the record's
    ``due``/``sent`` are seconds from ``run_start``, its chunk times seconds from ``due``. Each read of
    the response is stamped before any parsing; the events that arrived in one read share it and are
    counted as one chunk of their tokens (``events`` says how many), never as zero-length gaps."""
    endpoint = pool.endpoint
    path, data = body or encoded(prompt, params, endpoint.model)
    due = time.perf_counter() if due is None else due
    record = RequestRecord(index, due=due - run_start)
    stamps = SimpleNamespace(sent=None, connect=0.0, connect_start=0.0)
    reader = StreamReader(record, due, params.logprobs)
    headers = {"Content-Type": "application/json", **endpoint.headers}
    try:
        async with pool.session.post(path, data=data, headers=headers, trace_request_ctx=stamps) as response:
            if response.status >= 400:
                message = answer_message(response.status, await response.read())
                raise EndpointError(f"{endpoint.shown}/{path} answered HTTP {response.status}: {message}")
            pending = b""
            async for data in response.content.iter_any():
                now = time.perf_counter()
                *lines, pending = (pending + data).split(b"\n")
                reader.read(lines, now)
            if pending:
                reader.read([pending], time.perf_counter())
        reader.finish()
    except Exception as error:  # every failure becomes the record's status and reason
        status, reason = describe_failure(endpoint, "/" + path, error)
        record.status, record.error = status, reason_line(reason)
        if record.status == COMPLETED:
            record.status = FAILED
        record.text = "".join(reader.parts)
    record.connect = stamps.connect
    record.sent = (stamps.sent if stamps.sent is not None else due) - run_start
    return record
