"""The server as a subprocess, for tests and benchmarks: started, awaited until it listens, and closed."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

from pytest_ascend_llm.testing.fake_server.options import LISTENING_PREFIX, MODULE


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
    """Start ``python -m pytest_ascend_llm.testing.fake_server *args``; by default wait until it listens.

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
