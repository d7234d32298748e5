"""A progress line for long load runs (requests done / total, elapsed), as vLLM's and SGLang's
benchmark tools show one: rewritten in place on a terminal, a line every few seconds elsewhere.

The line goes wherever ``write(text, in_place)`` sends it: stderr by default (plain Python), pytest's
terminal reporter in the plugin, so pytest's output capture never swallows it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

Write = Callable[[str, bool], None]  # (text, rewrite the current line in place)


def _stderr(text: str, in_place: bool) -> None:
    sys.stderr.write(("\r" + text) if in_place else (text + "\n"))
    sys.stderr.flush()


class ProgressLine:
    """``progress(done, total, elapsed)``; call ``close()`` to end the line."""

    def __init__(self, label: str, write: Write | None = None, tty: bool | None = None, every: float | None = None):
        self.label = label
        self.write = write or _stderr
        self.tty = bool(sys.stderr.isatty()) if tty is None else tty
        self.every = every if every is not None else (0.5 if self.tty else 10.0)
        self.last = time.monotonic()
        self.shown = False
        self.finished = False  # the last line (all done) is written once

    def __call__(self, done: int, total: int, elapsed: float) -> None:
        now = time.monotonic()
        if (done < total and now - self.last < self.every) or self.finished:
            return
        self.finished = done >= total
        self.last = now
        rate = f", {done / elapsed:.1f} req/s" if elapsed > 0 and done else ""
        self.write(f"{self.label}: {done}/{total} requests, {elapsed:.1f} s{rate}", self.tty)
        self.shown = True

    def close(self) -> None:
        if self.shown and self.tty:
            self.write("", False)
