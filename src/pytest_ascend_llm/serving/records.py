"""What one request to a server did: its timeline, its counts as the server reported them, and its fate.

Every request of a load run ends as one record, completed or not, so a run with failures says how many
and why instead of silently dropping them from the statistics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pytest_ascend_llm.engines.base import TokenLogprob
from pytest_ascend_llm.metrics import timing
from pytest_ascend_llm.metrics.timing import TokenChunk

COMPLETED, FAILED, TIMED_OUT = "completed", "failed", "timed out"
REASON_LIMIT = 300  # characters of a failed request's reason: enough for a cause, never a dump
_OBJECT_REPR = re.compile(r"<([\w.]+)(?: object)? at 0x[0-9a-fA-F]+>")


def reason_line(text: str, limit: int = REASON_LIMIT) -> str:
    """A failure's reason as the record keeps it: the first line, spaces collapsed, an object's repr
    reduced to its class name, cut to ``limit``; a run with many failures prints these, one a line."""
    first = next((line for line in str(text).splitlines() if line.strip()), "")
    line = " ".join(_OBJECT_REPR.sub(lambda match: match[1].rsplit(".", 1)[-1], first).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class RequestRecord:
    """One request's timeline, in seconds from the run's start: ``due`` (its scheduled time under a rate,
    its turn under a concurrency), ``sent`` (just before its one write); ``connect`` is the connection
    setup inside that (0 on a reused connection). Chunk times are seconds after ``due``, so TTFT
    charges a server too busy to accept; counts are the server's (``usage``), not re-tokenized text."""

    index: int
    sent: float = 0.0
    due: float = 0.0
    connect: float = 0.0
    chunks: list[TokenChunk] = field(default_factory=list)
    text: str = ""
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int = 0
    finish_reason: str | None = None
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] | None = None  # per output token, when the request asked for logprobs
    status: str = COMPLETED
    error: str = ""

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED

    @property
    def client_wait(self) -> float:
        """Seconds the client itself took between due and the write, connection setup excluded."""
        return max(0.0, self.sent - self.due - self.connect)

    @property
    def first_token_at(self) -> float | None:
        """The first token's time from the run's start."""
        return None if self.ttft is None else self.due + self.ttft

    def detail(self, prompt_len: int | None = None) -> dict[str, object]:
        """The request as the results file keeps it (vLLM's ``--save-detailed`` fields and ours), in
        seconds from the run's start; lengths as the server counted them."""
        return {
            "index": self.index,
            "due_s": round(self.due, 6),
            "sent_s": round(self.sent, 6),
            "connect_s": round(self.connect, 6),
            "first_token_s": None if self.first_token_at is None else round(self.first_token_at, 6),
            "end_s": None if self.e2e is None else round(self.due + self.e2e, 6),
            "input_len": self.prompt_tokens if self.prompt_tokens is not None else prompt_len,
            "output_len": self.counted_tokens,
            "status": self.status,
            "error": self.error,
        }

    @property
    def counted_tokens(self) -> int:
        """Output tokens: the server's usage when it reported one, else the streamed chunks' tokens."""
        return self.output_tokens if self.output_tokens is not None else timing.output_tokens(self.chunks)

    @property
    def ttft(self) -> float | None:
        return timing.ttft(self.chunks)

    @property
    def e2e(self) -> float | None:
        return timing.e2e(self.chunks)

    @property
    def tpot(self) -> float | None:
        """(E2E − TTFT) / (output tokens − 1): the same formula as the engine results (chunk counts are
        reconciled with the server's usage when the stream ends)."""
        return timing.tpot(self.chunks)


def reconcile_counts(chunks: list[TokenChunk], reported: int | None) -> list[TokenChunk]:
    """Token counts per chunk that add up to the server's reported total: a server that streams text
    without per-chunk usage gets one token per chunk, and the tokens it did not show (a multi-token
    chunk) are counted on the last chunk."""
    if reported is None or not chunks:
        return chunks
    missing = reported - timing.output_tokens(chunks)
    if missing <= 0:
        return chunks
    last = chunks[-1]
    return [*chunks[:-1], TokenChunk(last.time, last.count + missing)]
