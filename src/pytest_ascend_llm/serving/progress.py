"""A progress line for long load runs (requests done / total, elapsed), as vLLM's and SGLang's
benchmark tools show one: rewritten in place on a terminal, a line every few seconds elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """``progress(done, total, elapsed)``; call ``close()`` to end the line."""

    def __init__(self, label: str, stream: TextIO | None = None, every: float | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every if every is not None else (0.5 if self.tty else 10.0)
        self.last = time.monotonic()
        self.shown = False

    def __call__(self, done: int, total: int, elapsed: float) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.every:
            return
        self.last = now
        text = f"{self.label}: {done}/{total} requests, {elapsed:.1f} s"
        self.stream.write(("\r" + text) if self.tty else (text + "\n"))
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()
