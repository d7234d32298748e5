"""What one request to a server did: its timeline, its counts as the server reported them, and its fate.

Every request of a load run ends as one record, completed or not, so a run with failures says how many
and why instead of silently dropping them from the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_ascend_llm.engines.base import TokenLogprob
from pytest_ascend_llm.metrics import timing
from pytest_ascend_llm.metrics.timing import TokenChunk

COMPLETED, FAILED, TIMED_OUT = "completed", "failed", "timed out"


@dataclass
class RequestRecord:
    """One request: ``sent`` is seconds from the run's start to just before the request was sent;
    chunk times are seconds after ``sent``; counts are the server's (``usage``), not re-tokenized text."""

    index: int
    sent: float = 0.0
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
