"""The fake server's connections on their raw sockets, each read stamped with the kernel's receive time.

Why not asyncio's transports: they read with ``recv``, which drops the kernel's timestamp, so a
request's arrival could only be stamped when the server's loop got round to the socket. At 1,024
streams on one core the loop was tens of milliseconds behind its sockets, so the server's own
"true" TTFT left out its own wait, and any client measured against it looked that much late. Here a
read is ``recvmsg`` with SO_TIMESTAMPNS (Linux): arrival is when the bytes reached the socket, as a
packet capture would show it, and the schedule of every chunk counts from that.

Writes go straight to the socket; what it does not take is kept and flushed when it is writable.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable

# SO_TIMESTAMPNS (asm-generic/socket.h); Python's socket module does not name it
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform.startswith("linux") else None)
STAMP_SPACE = socket.CMSG_SPACE(16) if hasattr(socket, "CMSG_SPACE") else 0
READ_SIZE = 2**16


class StampedReader(asyncio.StreamReader):
    """A StreamReader that keeps when bytes arrived into an empty buffer: the arrival of the request
    those bytes start."""

    def __init__(self) -> None:
        super().__init__(limit=READ_SIZE)
        self.filled_at: float | None = None

    def feed_stamped(self, data: bytes, arrived: float) -> None:
        if not self._buffer:
            self.filled_at = arrived
        self.feed_data(data)


def _kernel_time(ancillary: list, loop: asyncio.AbstractEventLoop) -> float:
    """The read's kernel receive time on ``loop.time()``'s clock, else the loop's time now."""
    now = loop.time()
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return now - (time.time() - (seconds + nanoseconds * 1e-9))  # realtime → monotonic
    return now


class SocketWriter:
    """The writing half: ``write``/``drain``/``close``/``abort``, as the HTTP code uses a StreamWriter."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop, self.sock = loop, sock
        self.buffer = bytearray()
        self.flushed: asyncio.Future | None = None
        self.closed = False
        self.reader: StampedReader | None = None  # told of the close, so no handler waits on a read

    def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("the connection is closed")
        if not self.buffer:
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as error:
                self.abort()
                raise ConnectionResetError(str(error)) from None
            data = data[sent:]
            if not data:
                return
            self.loop.add_writer(self.sock, self._flush)
        self.buffer += data

    def _flush(self) -> None:
        try:
            sent = self.sock.send(self.buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.abort()
            return
        del self.buffer[:sent]
        if not self.buffer:
            self.loop.remove_writer(self.sock)
            self._wake()

    def _wake(self) -> None:
        if self.flushed is not None and not self.flushed.done():
            self.flushed.set_result(None)
        self.flushed = None

    async def drain(self) -> None:
        """Wait until everything written reached the kernel (a slow reader holds the writer here)."""
        if self.buffer and not self.closed:
            self.flushed = self.flushed or self.loop.create_future()
            await self.flushed
        if self.closed:
            raise ConnectionResetError("the connection is closed")

    def abort(self) -> None:
        """Close now, dropping anything not yet sent."""
        if self.closed:
            return
        self.closed = True
        self.buffer.clear()
        self.loop.remove_writer(self.sock)
        self.loop.remove_reader(self.sock)
        self.sock.close()
        if self.reader is not None:
            self.reader.feed_eof()
        self._wake()

    def close(self) -> None:
        """Close once what was written is sent (at once when nothing is pending)."""
        if not self.buffer:
            self.abort()
            return
        flushed = self.flushed = self.flushed or self.loop.create_future()
        flushed.add_done_callback(lambda _: self.abort())


Handler = Callable[[StampedReader, SocketWriter], Awaitable[None]]


def _start(loop: asyncio.AbstractEventLoop, sock: socket.socket, handler: Handler, tasks: set) -> None:
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if SO_TIMESTAMPNS is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            pass  # then arrival is the loop's read time
    reader, writer = StampedReader(), SocketWriter(loop, sock)
    writer.reader = reader

    def readable() -> None:
        try:
            data, ancillary, _, _ = sock.recvmsg(READ_SIZE, STAMP_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        if not data:
            loop.remove_reader(sock)
            reader.feed_eof()
            return
        reader.feed_stamped(data, _kernel_time(ancillary, loop))

    loop.add_reader(sock, readable)
    task = loop.create_task(handler(reader, writer))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def serve_sockets(host: str, port: int, backlog: int, handler: Handler, listening: Callable[[int], None]) -> None:
    """Accept on ``host:port`` until cancelled, one ``handler(reader, writer)`` task per connection;
    ``listening(port)`` is called once the socket listens."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server((host, port), backlog=backlog)
    listener.setblocking(False)
    tasks: set[asyncio.Task] = set()

    def accept() -> None:
        for _ in range(backlog):
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors, or the client gave up: the next one may do
                return
            _start(loop, sock, handler, tasks)

    loop.add_reader(listener, accept)
    listening(listener.getsockname()[1])
    try:
        await loop.create_future()
    finally:
        loop.remove_reader(listener)
        listener.close()
