"""Per-request latency metrics from streamed token timestamps (see shared METRICS.md).

TTFT = first token time − t0; E2E = last token time − t0; TPOT = (E2E − TTFT) / (tokens − 1); ITL = gaps
between token-bearing chunks. A server's stream is stamped per read: events that arrived in one read are
one chunk of their tokens, so the ITL percentiles rest on the gaps between reads, each shared by the
tokens its read carried, never on 0 ms gaps that only show the read. The two serving benchmarks differ
on multi-token chunks (speculative decoding): SGLang's bench_serving counts a chunk of k tokens as k
gaps of gap / k (``itl``, per token); vLLM's bench serve keeps one gap per chunk (``itl_per_chunk``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenChunk:
    """``count`` tokens that became available ``time`` seconds after the request started; ``events``
    is how many of the server's stream events arrived together in the read that carried them (more
    than one: the client read them at once, so the gaps between them are not known, only shared)."""

    time: float
    count: int = 1
    events: int = 1


def output_tokens(chunks: Sequence[TokenChunk]) -> int:
    return sum(chunk.count for chunk in chunks)


def ttft(chunks: Sequence[TokenChunk]) -> float | None:
    return chunks[0].time if chunks else None


def e2e(chunks: Sequence[TokenChunk]) -> float | None:
    return chunks[-1].time if chunks else None


def tpot(chunks: Sequence[TokenChunk]) -> float | None:
    """Mean time per output token after the first; None for a single-token output."""
    tokens = output_tokens(chunks)
    if tokens < 2:
        return None
    return (chunks[-1].time - chunks[0].time) / (tokens - 1)


def itl(chunks: Sequence[TokenChunk]) -> list[float]:
    """Inter-token latencies per token (SGLang): a k-token chunk's gap is split into k equal gaps."""
    gaps: list[float] = []
    for previous, current in zip(chunks, chunks[1:]):
        share = (current.time - previous.time) / current.count
        gaps.extend([share] * current.count)
    return gaps


def itl_per_chunk(chunks: Sequence[TokenChunk]) -> list[float]:
    """Inter-token latencies per chunk (vLLM): one gap per token-bearing chunk, whatever it carries."""
    return [current.time - previous.time for previous, current in zip(chunks, chunks[1:])]


def token_times(chunks: Sequence[TokenChunk]) -> list[float]:
    """One arrival time per token (tokens of one chunk share its time)."""
    return [chunk.time for chunk in chunks for _ in range(chunk.count)]


def tpot_by_position(chunks: Sequence[TokenChunk], bucket: int) -> list[tuple[int, int, float]]:
    """(first, last, seconds per token) for output positions 1–bucket, bucket+1–2·bucket, …; the first
    bucket starts timing at token 1, as TPOT excludes the first token. Shows decode slowing with length."""
    times = token_times(chunks)
    rows = []
    for first in range(1, len(times) + 1, bucket):
        last = min(first + bucket - 1, len(times))
        start = times[first - 1] if first == 1 else times[first - 2]
        steps = last - first if first == 1 else last - first + 1
        if steps > 0:
            rows.append((first, last, (times[last - 1] - start) / steps))
    return rows
