"""The fake tokenizer and output, the absolute schedule of chunks, and the simulated prefix cache."""

from __future__ import annotations

import asyncio
import bisect
import collections
import hashlib
import zlib
from typing import Any

MAX_CACHED_PROMPTS = 1000

Tokens = tuple[Any, ...]


def prompt_words(text: str) -> Tokens:
    """The fake tokenizer: one token per whitespace-separated word."""
    return tuple(text.split())


def token_id(word: str) -> int:
    """A stable id for a word (crc32, not hash(): the same in every process and run)."""
    return zlib.crc32(word.encode("utf-8")) % 1000


def unit(*parts: object) -> float:
    """A stable draw in [0, 1) from its parts (blake2b: the same in every process, spread evenly)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def output_text(start: int, stop: int) -> str:
    """The text of output tokens ``start`` to ``stop - 1``: ``"t{i} "`` each."""
    return "".join(f"t{i} " for i in range(start, stop))


def chunk_bounds(max_tokens: int, chunk_tokens: int) -> list[tuple[int, int]]:
    """(start, stop) output-token ranges of each streamed chunk; the last one may be shorter."""
    return [(start, min(start + chunk_tokens, max_tokens)) for start in range(0, max_tokens, chunk_tokens)]


def chunk_deadline(arrival: float, ttft: float, itl: float, index: int) -> float:
    """When chunk ``index`` is due, on the loop's clock: absolute, so late wake-ups never accumulate."""
    return arrival + ttft + index * itl


async def sleep_until(deadline: float) -> None:
    """Sleep to an absolute ``loop.time()`` deadline (a timer at that instant, no relative delay)."""
    loop = asyncio.get_running_loop()
    if deadline <= loop.time():
        return
    done = loop.create_future()
    timer = loop.call_at(deadline, _resolve, done)
    try:
        await done
    finally:
        timer.cancel()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def common_prefix_length(a: Tokens, b: Tokens) -> int:
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[index] == b[index]:
        index += 1
    return index


class PrefixCache:
    """Simulated prefix caching: how many leading tokens of a prompt some earlier prompt shared.

    Earlier prompts are kept sorted (one list per token kind, words or ids), so the longest common
    prefix with any of them is the one with a neighbour of the new prompt in that order: two
    comparisons per request instead of one per remembered prompt.
    """

    def __init__(self, capacity: int = MAX_CACHED_PROMPTS) -> None:
        self.capacity = capacity
        self._sorted: dict[str, list[Tokens]] = {}
        self._order: collections.deque[tuple[str, Tokens]] = collections.deque()

    def clear(self) -> None:
        self._sorted.clear()
        self._order.clear()

    def match_and_add(self, kind: str, tokens: Tokens) -> int:
        """The cached tokens of this prompt; then remember it for later prompts."""
        prompts = self._sorted.setdefault(kind, [])
        index = bisect.bisect_left(prompts, tokens)
        cached = 0
        if index > 0:
            cached = common_prefix_length(prompts[index - 1], tokens)
        if index < len(prompts):
            cached = max(cached, common_prefix_length(prompts[index], tokens))
        prompts.insert(index, tokens)
        self._order.append((kind, tokens))
        if len(self._order) > self.capacity:
            self._evict_oldest()
        return cached

    def _evict_oldest(self) -> None:
        kind, tokens = self._order.popleft()
        prompts = self._sorted[kind]
        del prompts[bisect.bisect_left(prompts, tokens)]  # equal duplicates are interchangeable
