"""One streamed request on the wire: the request in one write, its timeline stamped.

The load generator keeps its own keep-alive HTTP/1.1 connections (``connection.py``): each request is
its headers and body made into one bytes object before the run, written in one ``transport.write``
(one TCP segment; a split request is what a busy server's accept queue resets, and what lets a late
body land inside TTFT), its response parsed by httptools in C.

The timeline of a request, all on ``time.perf_counter`` (CLOCK_MONOTONIC on Linux, one base for every
process of a run): ``due`` (its scheduled time under a rate, its turn under a concurrency), connection
setup (zero on a reused connection), ``sent`` (just before the write) and one stamp per read of the
response. TTFT and every chunk time count from ``due``, as vLLM and SGLang do, so a server too slow to
accept is charged; the client's own wait (due → sent, connection setup excluded) is kept beside it, so
a late client is visible, not hidden.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from urllib.parse import urlsplit

from pytest_ascend_llm.serving.client import (
    ConnectFailure,
    Endpoint,
    EndpointError,
    StreamBroken,
    StreamReader,
    answer_message,
    describe_failure,
    request_body,
)
from pytest_ascend_llm.serving.records import COMPLETED, FAILED, RequestRecord, reason_line

CONNECT_TIMEOUT_S = 10.0
USER_AGENT = "pytest-ascend-llm"


def import_wire():
    """The connection module (and httptools under it), or one line saying how to get it."""
    try:
        from pytest_ascend_llm.serving import connection
    except ImportError:
        from pytest_ascend_llm.errors import LLMSetupError

        raise LLMSetupError("the load generator needs httptools: pip install httptools") from None
    return connection


class ClientPool:
    """A process's connections to one server: idle ones reused last-in first-out, new ones opened when
    none is idle (the load shape, not the pool, limits concurrency). No proxies: a benchmark never goes
    through one by accident."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        parts = urlsplit(endpoint.url)
        self.host = parts.hostname or "127.0.0.1"
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.authority = self.host if ":" not in self.host else f"[{self.host}]"
        self.authority += f":{parts.port}" if parts.port else ""
        self.prefix = parts.path.rstrip("/")
        self.idle: list = []
        self.every: set = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ssl_context: ssl.SSLContext | None = None

    async def __aenter__(self) -> ClientPool:
        self.wire = import_wire()
        self.loop = asyncio.get_running_loop()
        if self.tls:
            self.ssl_context = ssl.create_default_context()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for connection in self.every:
            connection.close()
        self.every.clear()
        self.idle.clear()

    def request(self, path: str, body: bytes) -> bytes:
        """A POST of ``body`` (JSON) to ``path`` under the endpoint, headers and body in one bytes object."""
        headers = {
            "Host": self.authority,
            "User-Agent": USER_AGENT,
            "Accept": "text/event-stream, application/json",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            **self.endpoint.headers,
        }
        head = f"POST {self.prefix}/{path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (head + "\r\n").encode("latin-1") + body

    def reuse(self):
        """An idle open connection, or None; never waits."""
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                return connection
            self.every.discard(connection)
        return None

    async def connect(self, within: float | None = None):
        """A new connection, or ConnectFailure naming why; TimeoutError when ``within`` seconds (what
        is left of the request's own deadline) ran out before the connect limit did."""
        limit = min(CONNECT_TIMEOUT_S, self.endpoint.timeout)
        budget = limit if within is None else max(0.0, min(limit, within))
        opening = self.loop.create_connection(
            lambda: self.wire.StreamConnection(self.loop),
            self.host,
            self.port,
            ssl=self.ssl_context,
            server_hostname=self.host if self.tls else None,
        )
        try:
            _, connection = await asyncio.wait_for(opening, budget)
        except asyncio.TimeoutError:
            if budget < limit:
                raise TimeoutError from None
            raise ConnectFailure(f"no connection within {limit:g} s") from None
        except OSError as error:
            raise ConnectFailure(error.strerror or str(error) or type(error).__name__) from None
        self.every.add(connection)
        return connection

    def release(self, connection) -> None:
        """Back to the idle list if its last response allowed keep-alive, else closed."""
        if connection.reusable and not connection.closed:
            self.idle.append(connection)
        else:
            connection.close()
            self.every.discard(connection)


def encoded(pool: ClientPool, prompt, params) -> tuple[str, bytes]:
    """(path, the whole request's bytes), made before the run so no stream waits on the encoding."""
    path, body = request_body(prompt, params, pool.endpoint.model)
    path = path.lstrip("/")
    return path, pool.request(path, json.dumps(body).encode())


async def open_connections(pool: ClientPool, count: int) -> None:
    """Open ``count`` connections before a run, so a closed loop's first requests are timed on warm
    connections like every later one; a server that cannot be reached is left to the run, whose
    requests then say why."""
    opened = await asyncio.gather(*(pool.connect() for _ in range(count)), return_exceptions=True)
    pool.idle += [connection for connection in opened if not isinstance(connection, BaseException)]


async def _exchange(pool: ClientPool, request: bytes, reader: StreamReader, stamps: dict[str, float], deadline: float):
    """Send on a reused connection (retried once on a fresh one if it turns out closed before any byte
    of an answer: the server dropped an idle keep-alive connection) or a new one; the finished Exchange
    and its connection. ``deadline`` is on ``loop.time()``; past it the request fails as timed out (one
    timer per request: ``asyncio.timeout`` costs 10 µs a request, a third of a burst's budget)."""
    loop = pool.loop
    for attempt in (0, 1):
        connection = pool.reuse() if attempt == 0 else None
        if connection is None:
            began = time.perf_counter()
            connection = await pool.connect(deadline - loop.time())
            stamps["connect"] = time.perf_counter() - began
        exchange = pool.wire.Exchange(loop, reader.read)
        timer = loop.call_at(deadline, exchange.expire)
        stamps["sent"] = time.perf_counter()
        connection.send(exchange, request)
        try:
            await exchange.finished
        except StreamBroken as broken:
            connection.close()
            pool.release(connection)
            if broken.received or connection.served == 0 or attempt == 1:
                raise
            continue
        except BaseException:
            connection.close()
            pool.release(connection)
            raise
        finally:
            timer.cancel()
        return exchange, connection
    raise AssertionError("unreachable")


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
    path, request = body or encoded(pool, prompt, params)
    due = time.perf_counter() if due is None else due
    record = RequestRecord(index, due=due - run_start)
    stamps = {"connect": 0.0, "sent": due}
    reader = StreamReader(record, due, params.logprobs)
    try:
        deadline = pool.loop.time() + endpoint.timeout
        exchange, connection = await _exchange(pool, request, reader, stamps, deadline)
        pool.release(connection)
        if exchange.status >= 400:
            message = answer_message(exchange.status, bytes(exchange.error_body))
            raise EndpointError(f"{endpoint.shown}/{path} answered HTTP {exchange.status}: {message}")
        reader.finish()
    except Exception as error:  # every failure becomes the record's status and reason
        status, reason = describe_failure(endpoint, "/" + path, error)
        record.status, record.error = status, reason_line(reason)
        if record.status == COMPLETED:
            record.status = FAILED
        record.text = "".join(reader.parts)
    record.connect = stamps["connect"]
    record.sent = stamps["sent"] - run_start
    return record
