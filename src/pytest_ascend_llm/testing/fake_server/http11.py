"""A minimal HTTP/1.1 on asyncio streams: the server's own overhead must stay far below the timings it
simulates at 256 concurrent streams. (Not ``http.py``: the standard ``http`` module is imported here.)"""

from __future__ import annotations

import asyncio
import http
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_ascend_llm.testing.fake_server.socket_io import SocketWriter, StampedReader

MAX_HEADER_LINES = 100


class BadRequest(Exception):
    """A request this server cannot read or accept: answered 400."""


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    arrival: float  # loop.time() when the request's first bytes were read off the socket

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

    def __init__(self, reader: StampedReader, writer: SocketWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read_request(self) -> Request | None:
        """The next request, or None when the client closed the connection between requests."""
        line = await self._readline()
        while line in (b"\r\n", b"\n"):  # stray line ends before a request line are allowed
            line = await self._readline()
        if not line:
            return None
        arrival = self.reader.filled_at or asyncio.get_running_loop().time()
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
        await self.writer.drain()  # returns once everything written reached the kernel
        self.writer.abort()

    async def wait_until_peer_closes(self) -> None:
        while await self.reader.read(65536):
            pass
