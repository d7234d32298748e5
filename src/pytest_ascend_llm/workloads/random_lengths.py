"""Requests of random input and output lengths cut from shipped text, like vLLM's ``random`` dataset
(lengths uniform in [L · (1 − range_ratio), L · (1 + range_ratio)], as vLLM's ``--random-range-ratio``
reads since 0.10; 0 gives every request exactly L), deterministic for a seed. With a tokenizer the
prompts are token ids of exact length; without one (an endpoint and no --llm-model) they are words,
and the server's usage counts the tokens."""

from __future__ import annotations

import random
from collections.abc import Callable

from pytest_ascend_llm.engines.base import SamplingParams
from pytest_ascend_llm.serving.load import LoadRequest


def _length(rng: random.Random, middle: int, range_ratio: float) -> int:
    return rng.randint(max(1, int(middle * (1 - range_ratio))), max(1, int(middle * (1 + range_ratio))))


def random_length_requests(
    text: str,
    count: int,
    input_len: int,
    output_len: int,
    encode: Callable[[str], list[int]] | None = None,
    range_ratio: float = 0.0,
    seed: int = 0,
) -> list[LoadRequest]:
    """``count`` requests; every output runs to its length (ignore_eos), so runs do the same work."""
    rng = random.Random(seed)
    pieces = encode(text) if encode is not None else text.split()
    requests = []
    for _ in range(count):
        length = _length(rng, input_len, range_ratio)
        start = rng.randrange(len(pieces))
        cut = (pieces * (length // len(pieces) + 2))[start : start + length]
        prompt = cut if encode is not None else " ".join(cut)
        params = SamplingParams(max_new_tokens=_length(rng, output_len, range_ratio), ignore_eos=True)
        requests.append(LoadRequest(prompt, params))
    return requests
