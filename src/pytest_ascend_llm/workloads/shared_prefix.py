"""Groups of prompts sharing a long system prompt, in the style of SGLang's ``generated-shared-prefix``
dataset: what a prefix (radix) cache is for."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PrefixGroup:
    """One shared system prompt and the questions asked after it (all as token ids)."""

    prefix: list[int]
    questions: list[list[int]]

    def prompts(self) -> list[list[int]]:
        return [self.prefix + question for question in self.questions]


def _slice(tokens: list[int], length: int, rng: random.Random) -> list[int]:
    repeated = tokens * (length // len(tokens) + 2)
    start = rng.randrange(len(tokens))
    return repeated[start : start + length]


def generated_shared_prefix(
    encode: Callable[[str], list[int]],
    text: str,
    groups: int = 4,
    prompts_per_group: int = 4,
    system_tokens: int = 512,
    question_tokens: int = 32,
    seed: int = 0,
) -> list[PrefixGroup]:
    """Distinct system prompts per group and distinct questions per prompt, cut from real text."""
    rng = random.Random(seed)
    tokens = encode(text)
    return [
        PrefixGroup(
            prefix=_slice(tokens, system_tokens, rng),
            questions=[_slice(tokens, question_tokens, rng) for _ in range(prompts_per_group)],
        )
        for _ in range(groups)
    ]
