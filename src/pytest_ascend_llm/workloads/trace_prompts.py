"""A trace's requests as token-id prompts whose shared prefixes are real: every hash id stands for one
block of token ids, the same block wherever the id appears, so two requests that share leading hash ids
send an identical token prefix and a server's prefix cache can reuse it, as in the recorded service.

A block's ids are drawn, seeded by its hash id, from the token ids of the shipped corpus text as the
server's tokenizer encodes it (real tokens of that vocabulary, never special ones); independent draws make
different hash ids give different blocks, however many a trace holds. A request's last block is cut to
reach its ``input_length`` exactly; tokens past its hash ids (a trace with fewer ids than its length needs)
are drawn for that request alone, so they share nothing. Every output runs to ``output_length``
(``ignore_eos``). A request longer than the model's context is cut to fit, and counted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pytest_ascend_llm.engines.base import SamplingParams
from pytest_ascend_llm.serving.load import LoadRequest
from pytest_ascend_llm.serving.trace import MOONCAKE_BLOCK, Trace, TraceEntry

CONTEXT_MARGIN = 8  # the serving workloads' room for tokens a server may add (serving_lengths)


def vocabulary_of(encode: Callable[[str], list[int]], text: str) -> list[int]:
    """The distinct token ids of ``text``, leaving out its first id (a BOS a server's /tokenize may add)."""
    return sorted(set(encode(text)[1:]))


def fit_lengths(input_length: int, output_length: int, context: int) -> tuple[int, int]:
    """Lengths cut so prompt and output fit ``context`` tokens: the prompt gives way first (its shared prefix
    is kept), and the output only where it alone would leave the prompt less than half the context."""
    if input_length + output_length <= context:
        return input_length, output_length
    output = min(output_length, max(1, context - min(input_length, context // 2)))
    return max(1, min(input_length, context - output)), output


@dataclass(frozen=True)
class BlockSharing:
    """How much of the replayed prompts the trace shares: its distinct hash blocks, the share of prompt
    tokens in blocks two or more requests send, and the share an unbounded prefix cache could reuse (each
    request's leading blocks that an earlier request already sent after the same prefix)."""

    distinct_blocks: int
    shared_share: float
    reusable_share: float


@dataclass(frozen=True)
class TraceWorkload:
    """The requests to send, at what offsets, and what was cut or shared on the way."""

    requests: list[LoadRequest]
    offsets: tuple[float, ...]
    cut: int
    sharing: BlockSharing


class BlockMaker:
    """Token ids per hash id, drawn once and kept: the same id gives the same block in every request."""

    def __init__(self, vocabulary: Sequence[int], block: int = MOONCAKE_BLOCK, seed: int = 0) -> None:
        if not vocabulary:
            raise ValueError("no vocabulary to draw trace blocks from")
        self.vocabulary = list(vocabulary)
        self.block = block
        self.seed = seed
        self._blocks: dict[int, list[int]] = {}

    def _draw(self, key: str) -> list[int]:
        return random.Random(f"trace-block:{self.seed}:{key}").choices(self.vocabulary, k=self.block)

    def of(self, hash_id: int) -> list[int]:
        made = self._blocks.get(hash_id)
        if made is None:
            made = self._blocks[hash_id] = self._draw(str(hash_id))
        return made

    def prompt(self, entry: TraceEntry, length: int) -> list[int]:
        """``length`` token ids: the blocks of the entry's hash ids, then tokens unique to this line."""
        tokens: list[int] = []
        for hash_id in entry.hash_ids:
            if len(tokens) >= length:
                break
            tokens += self.of(hash_id)
        extra = 0
        while len(tokens) < length:
            tokens += self._draw(f"line{entry.line}:{extra}")
            extra += 1
        return tokens[:length]


def block_sharing(entries: Sequence[TraceEntry], lengths: Sequence[int], block: int) -> BlockSharing:
    """The sharing of the prompts as sent (``lengths``: their token counts after any cut)."""
    used = [entry.hash_ids[: -(-length // block)] for entry, length in zip(entries, lengths)]
    senders: dict[int, int] = {}
    for ids in used:
        for hash_id in set(ids):
            senders[hash_id] = senders.get(hash_id, 0) + 1
    total = sum(lengths) or 1
    shared = reusable = 0
    seen: dict[int, int] = {}  # a prefix (chained hash of its block ids) → the most tokens sent of its last block
    for ids, length in zip(used, lengths):
        prefix, leading = 0, True
        for position, hash_id in enumerate(ids):
            size = min(block, length - position * block)
            shared += size if senders[hash_id] > 1 else 0
            prefix = hash((prefix, hash_id))
            earlier = seen.get(prefix, 0)
            if leading:
                reusable += min(size, earlier)
                leading = earlier >= size
            seen[prefix] = max(earlier, size)
    return BlockSharing(len(senders), shared / total, reusable / total)


def trace_workload(
    trace: Trace, vocabulary: Sequence[int], max_positions: int, speed: float = 1.0, block: int = MOONCAKE_BLOCK
) -> TraceWorkload:
    """Every entry as a request with real shared prefixes, cut to the model's context, at the trace's
    offsets divided by ``speed``."""
    maker = BlockMaker(vocabulary, block)
    context = max(2, max_positions - CONTEXT_MARGIN)
    requests, lengths, cut = [], [], 0
    for entry in trace.entries:
        input_length, output_length = fit_lengths(entry.input_length, entry.output_length, context)
        cut += (input_length, output_length) != (entry.input_length, entry.output_length)
        params = SamplingParams(max_new_tokens=output_length, ignore_eos=True)
        requests.append(LoadRequest(maker.prompt(entry, input_length), params))
        lengths.append(input_length)
    return TraceWorkload(requests, trace.offsets(speed), cut, block_sharing(trace.entries, lengths, block))
