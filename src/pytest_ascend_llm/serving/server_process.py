"""A server the session launches: on 127.0.0.1 and a free port, its log in a file, healthy or a
one-line error with the log's tail, and its whole process tree killed at the end (also after a test
crash, Ctrl-C, or an interpreter exit that skipped the session's teardown).
"""

from __future__ import annotations

import atexit
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from pytest_ascend_llm.errors import LLMSetupError

TAIL_LINES = 8


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last non-empty lines of a log, joined by ' | ' so an error stays one line."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    kept = [" ".join(line.split()) for line in text if line.strip()][-lines:]
    return " | ".join(kept) or "(empty log)"


def kill_tree(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Terminate the process and every descendant, then kill whatever outlives ``grace`` seconds."""
    import psutil

    try:
        root = psutil.Process(process.pid)
        family = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=grace)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


@dataclass
class ServerProcess:
    """``argv`` started with its output in ``log_path``; ``health_url`` answers 200 once it serves."""

    argv: list[str]
    log_path: Path
    health_url: str
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = field(default=None, init=False)

    def start(self, timeout: float) -> ServerProcess:
        """Start and wait until healthy; raises LLMSetupError (one line, with the log's tail) otherwise."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            try:
                self.process = subprocess.Popen(
                    self.argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    start_new_session=True,  # its own group: a terminal's Ctrl-C reaches pytest, which stops it
                )
            except OSError as error:
                raise LLMSetupError(f"cannot start {self.argv[0]} ({error}): check --llm-server-python") from None
        atexit.register(self.stop)
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                raise LLMSetupError(
                    f"the server exited with code {code} before it was healthy (log {self.log_path}): "
                    f"{log_tail(self.log_path)}"
                )
            try:
                if httpx.get(self.health_url, timeout=2.0, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise LLMSetupError(
            f"the server was not healthy within {timeout:g} s (raise --llm-server-timeout; log {self.log_path}): "
            f"{log_tail(self.log_path)}"
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Idempotent: kill the whole tree (servers spawn scheduler and detokenizer processes)."""
        if self.process is not None:
            kill_tree(self.process)
            atexit.unregister(self.stop)
