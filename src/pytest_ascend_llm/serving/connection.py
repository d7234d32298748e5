"""One keep-alive HTTP/1.1 connection of the load generator, as an asyncio Protocol, its responses read
by httptools (llhttp, the C parser Node.js and uvicorn use).

Why a Protocol and not a client library: at 1,024 streams on one core, a request must cost the client a
few microseconds between its due time and its write. aiohttp spends about 0.3 ms preparing each
request over several awaits, so a burst of 1,024 due at once left the client in lockstep, every write
about 0.4 s late. Here a request is bytes made before the run (headers and body: one write, one TCP
segment) handed to ``transport.write`` in the caller's own step, with nothing awaited first.

Reads are stamped in ``data_received`` before any parsing, and parsed in a callback queued behind it,
so a burst of reads that one poll of the loop returns is stamped first and parsed after: no stamp
waits for another stream's JSON.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httptools

from pytest_ascend_llm.serving.client import StreamBroken

OnLines = Callable[[list[bytes], float], None]  # the body's complete lines of one read, and its stamp


class Exchange:
    """One request's response as it arrives: its status, an error body kept whole, a success body cut
    into lines handed on with the stamp of the read they came in."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_lines: OnLines) -> None:
        self.finished = loop.create_future()
        self.on_lines = on_lines
        self.status = 0
        self.error_body = bytearray()
        self.partial = b""  # a line cut by the read boundary, completed by the next read
        self.received = False  # any byte of a response: a request that got none may be retried

    def body(self, data: bytes, now: float) -> None:
        if self.status >= 400:
            self.error_body += data
            return
        *lines, self.partial = (self.partial + data).split(b"\n")
        if lines:
            self.on_lines(lines, now)

    def complete(self, now: float) -> None:
        if self.partial and self.status < 400:
            partial, self.partial = self.partial, b""
            self.on_lines([partial], now)
        if not self.finished.done():
            self.finished.set_result(None)

    def fail(self, error: BaseException) -> None:
        if not self.finished.done():
            self.finished.set_exception(error)

    def expire(self) -> None:
        """The request's deadline passed: it ends as timed out."""
        self.fail(TimeoutError())


class StreamConnection(asyncio.Protocol):
    """A connection and its one exchange in flight; reusable once a response ended with keep-alive."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.reads: list[tuple[float, bytes]] = []
        self.now = 0.0
        self.closed = False
        self.reusable = False
        self.served = 0  # responses completed on this connection
        self.close_delimited = True  # a body with neither Content-Length nor chunking ends at close

    # --- the caller's side -------------------------------------------------------------------------

    def send(self, exchange: Exchange, request: bytes) -> None:
        """Start ``exchange`` with the request's bytes: one write, in the caller's step."""
        self.exchange, self.reusable, self.close_delimited = exchange, False, True
        self.parser = httptools.HttpResponseParser(self)
        self.transport.write(request)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # --- asyncio's side ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.reads:
            self.loop.call_soon(self._parse)
        self.reads.append((time.perf_counter(), data))

    def eof_received(self) -> bool:
        return False  # the transport closes; connection_lost ends the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._parse()
        exchange, self.exchange = self.exchange, None
        if exchange is None:
            return
        if self.parser is not None and exchange.status and self.close_delimited:
            exchange.complete(time.perf_counter())  # the body ran to the close, as HTTP/1.0 allows
            return
        cause = f"{type(exc).__name__}: {exc}" if exc else "closed by the server"
        exchange.fail(StreamBroken(cause, received=exchange.received))

    def _parse(self) -> None:
        reads, self.reads = self.reads, []
        for now, data in reads:
            exchange = self.exchange
            if exchange is None:  # bytes nobody asked for: the connection's state is unknown
                self.close()
                return
            exchange.received = True
            self.now = now
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserCallbackError as error:  # the stream's reader raised: its reason
                self._abandon(error.__context__ or error)
                return
            except httptools.HttpParserError as error:
                self._abandon(StreamBroken(f"not an HTTP response ({error})", received=True))
                return

    def _abandon(self, error: BaseException) -> None:
        exchange, self.exchange = self.exchange, None
        self.close()
        if exchange is not None:
            exchange.fail(error)

    # --- httptools' callbacks ----------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length" or (name == b"transfer-encoding" and b"chunked" in value.lower()):
            self.close_delimited = False

    def on_headers_complete(self) -> None:
        self.exchange.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.exchange.body(body, self.now)

    def on_message_complete(self) -> None:
        exchange, self.exchange = self.exchange, None
        self.served += 1
        self.reusable = not self.closed and self.parser.should_keep_alive()
        exchange.complete(self.now)
